"""The registry of analyses: what each one is called, what it supports and where it lives.

An analysis compares an experimental arm with the control over a block of simulated trials and
returns, per trial, an estimate (the risk difference), its interval and a decision statistic on
its own scale (a p-value today); a decision rule (:mod:`simulate.analysis.rules`) then maps the
statistic to reject / continue / stop for futility. This module holds the *metadata* of every
analysis: its name, its labels and one-line description, its closed-form sample size if it has
one, and what it supports. The scenario's choices and validation, the field reference, the
report's words and the lab's menus all read it.

It imports neither numpy nor scipy, so that reading a scenario or the command line stays fast:
each entry names the function that implements it (``"module:function"``), imported on first use.

Adding an analysis is one module and one registration: write
``evaluate(data: TwoArms, setting: Setting) -> Estimates`` (:mod:`simulate.analysis.base`) in a
module of its own and add an :class:`Entry` naming it to :data:`BUILT_IN` (or call
:func:`register`, or :func:`registered` for a scoped registration, as the tests do).

A design resolves its analysis's entry once, when it is prepared
(:class:`simulate.run.prepared.PreparedDesign`), and its trials are analysed with that entry
wherever they run: a worker process needs the implementing module importable, not the analysis
registered. Every function here and in :mod:`simulate.analysis.compare` that takes a test's id
takes its :class:`Entry` as well (:func:`get`).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable

SCALES = {"p_value": "smaller is stronger evidence against H0",
          "posterior_probability": "larger is stronger evidence for the alternative"}
"""The scales a decision statistic may be on, and which way evidence runs on each."""


@dataclass(frozen=True)
class Entry:
    """One registered analysis."""

    name: str
    """The id a scenario names (``analysis.test``)."""
    label: str
    """A few words, for menus and tick labels (the lab)."""
    short: str
    """A few words, for the report's tables and heatmaps."""
    title: str
    """Its full name, as the report's sentences use it."""
    description: str
    """One line: what it computes (the field reference)."""
    implementation: str
    """``"module:function"`` of its ``evaluate(data, setting) -> Estimates``."""
    statistic: str = "p_value"
    """The scale of its decision statistic: a key of :data:`SCALES`."""
    sample_size: str | None = None
    """``"module:function"`` of its closed-form n per arm, called with keywords ``p_control,
    p_treat, alpha, power, alternative, margin``; None when it has none."""
    strata: bool = False
    """It needs the randomisation strata (stratified counts)."""
    hypotheses: tuple[str, ...] = ("superiority",)
    """The hypotheses it tests (``analysis.hypothesis``); non_inferiority takes a margin."""
    alternatives: tuple[str, ...] = ("two-sided", "greater")
    """The alternatives it allows (``analysis.alternative``)."""
    interim: str | None = None
    """``"module:function"`` of its statistic at group-sequential looks (``[interim]``), on the z
    scale the boundaries are on: ``score_z(data: TwoArms, margin) -> z``; None when it cannot
    be monitored at looks. An analysis that reads covariates gets the look's patients in
    ``data.patients``."""
    imputes: bool = False
    """It analyses multiply imputed data (``analysis.missing`` = mi_mar or mi_j2r), reading the
    patients one by one (:attr:`simulate.analysis.base.TwoArms.patients`)."""
    covariates: bool = False
    """It reads the patients' baseline covariates one by one (:attr:`simulate.analysis.base.TwoArms.patients`
    as :class:`simulate.analysis.adjusted.AdjustmentData`): a covariate-adjusted analysis."""
    conservative: bool = False
    """Its type I error stays below alpha by construction (an exact or continuity-corrected
    test on counts): the lab says so when it explains a low power."""

    def __post_init__(self) -> None:
        if self.statistic not in SCALES:
            raise ValueError(f"analysis {self.name!r}: statistic {self.statistic!r} is not one of "
                             f"{', '.join(map(repr, SCALES))}")
        for what in (self.implementation, self.sample_size, self.interim):
            if what is not None and ":" not in what:
                raise ValueError(f"analysis {self.name!r}: {what!r} must read 'module:function'")

    def load(self) -> Callable:
        """Its ``evaluate`` function (imports the implementing module)."""
        return _resolve(self.implementation)

    def sample_size_formula(self) -> Callable | None:
        """Its closed-form n per arm, or None."""
        return None if self.sample_size is None else _resolve(self.sample_size)

    def look_statistic(self) -> Callable | None:
        """Its statistic at group-sequential looks (z scale), or None."""
        return None if self.interim is None else _resolve(self.interim)

    def problems(self, hypothesis: str, alternative: str) -> list[str]:
        """What in an ``[analysis]`` table this analysis cannot do, one line each (the scenario's
        validation reports them)."""
        out = []
        if hypothesis not in self.hypotheses:
            others = [e.name for e in entries() if hypothesis in e.hypotheses]
            out.append(f"analysis.test: got {self.name!r}; {self.title} does not test {hypothesis}: set test = "
                       + " or ".join(f'"{n}"' for n in others))
        if alternative not in self.alternatives:
            allowed = " or ".join(f'"{a}"' for a in self.alternatives)
            out.append(f"analysis.alternative: got {alternative!r}; {self.name} is "
                       f"{'one-sided' if self.alternatives == ('greater',) else 'not ' + alternative}: "
                       f"set alternative = {allowed}")
        return out


def _resolve(target: str) -> Callable:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


_IMPL = "simulate.analysis"
_FORMULAS = f"{_IMPL}.formulas"

BUILT_IN: tuple[Entry, ...] = (
    Entry("fisher", "Fisher exact", "Fisher exact", "Fisher's exact test",
          "Fisher's exact test of the 2x2 table (conditional on both margins).",
          f"{_IMPL}.fisher:evaluate", sample_size=f"{_FORMULAS}:n_per_arm_fleiss_cc", conservative=True),
    Entry("chi2", "Pearson χ²", "chi-squared", "Pearson's chi-squared test",
          "Pearson's chi-squared test of the 2x2 table, without continuity correction.",
          f"{_IMPL}.large_sample:evaluate_chi2", sample_size=f"{_FORMULAS}:n_per_arm_pooled_normal"),
    Entry("chi2_yates", "χ² with Yates", "chi-squared, Yates",
          "chi-squared test with Yates' continuity correction",
          "Pearson's chi-squared test with Yates' continuity correction.",
          f"{_IMPL}.large_sample:evaluate_chi2_yates", sample_size=f"{_FORMULAS}:n_per_arm_fleiss_cc",
          conservative=True),
    Entry("ztest", "z test (pooled)", "pooled z", "pooled z-test",
          "Two-proportion z-test with the variance pooled under H0.",
          f"{_IMPL}.large_sample:evaluate_ztest", sample_size=f"{_FORMULAS}:n_per_arm_pooled_normal",
          interim=f"{_IMPL}.noninferiority:score_z"),
    Entry("farrington_manning", "Farrington-Manning", "Farrington–Manning", "Farrington–Manning score test",
          "Score test of the risk difference against a non-inferiority margin (one-sided), with the "
          "Miettinen-Nurminen interval.",
          f"{_IMPL}.noninferiority:evaluate", sample_size=f"{_FORMULAS}:n_per_arm_farrington_manning",
          hypotheses=("superiority", "non_inferiority"), alternatives=("greater",),
          interim=f"{_IMPL}.noninferiority:score_z"),
    Entry("wald", "Wald (unpooled)", "Wald", "Wald test of the risk difference",
          "Wald test of the risk difference with the unpooled variance and the Wald interval; with multiple "
          "imputation (analysis.missing = mi_mar or mi_j2r), Rubin's rules over the imputed data sets.",
          f"{_IMPL}.wald:evaluate", sample_size=f"{_IMPL}.wald:n_per_arm",
          hypotheses=("superiority", "non_inferiority"), imputes=True),
    Entry("posterior", "Bayesian posterior", "posterior", "Bayesian posterior probability of benefit",
          "The posterior probability that the experimental arm's rate exceeds the control's (less any margin) "
          "under each arm's beta or beta-mixture analysis prior (analysis.framework = bayesian).",
          f"{_IMPL}.posterior:evaluate", statistic="posterior_probability",
          hypotheses=("superiority", "non_inferiority"), alternatives=("greater",)),
    Entry("g_computation", "g-computation", "g-computation",
          "g-computation over a logistic working model (covariate-adjusted)",
          "Covariate-adjusted marginal risk difference: a logistic working model of the endpoint on the arm and "
          "analysis.adjust_for, standardised over the analysed patients (analysis.adjustment = g_computation), "
          "with the model-robust variance (or the delta method) and a Wald test.",
          f"{_IMPL}.adjusted:evaluate_g_computation", hypotheses=("superiority", "non_inferiority"), covariates=True,
          imputes=True, interim=f"{_IMPL}.adjusted:look_z"),
    Entry("mantel_haenszel", "Mantel-Haenszel RD", "Mantel–Haenszel RD",
          "Mantel–Haenszel risk difference over the randomisation strata",
          "The Mantel-Haenszel risk difference across the randomisation strata with Sato's variance and a Wald test "
          "(analysis.adjustment = mantel_haenszel).",
          f"{_IMPL}.adjusted:evaluate_mantel_haenszel", strata=True, hypotheses=("superiority", "non_inferiority")),
    Entry("cmh", "CMH (stratified)", "CMH (stratified)",
          "Cochran–Mantel–Haenszel test (stratified by the randomisation strata)",
          "Cochran-Mantel-Haenszel test of a common odds ratio across the randomisation strata.",
          f"{_IMPL}.cmh:evaluate", strata=True),
)
"""The analyses trialsim ships, in the order menus list them."""

_REGISTRY: dict[str, Entry] = {e.name: e for e in BUILT_IN}


def register(entry: Entry) -> Entry:
    """Add an analysis (an id may be registered once)."""
    if entry.name in _REGISTRY:
        raise ValueError(f"an analysis named {entry.name!r} is already registered")
    if not entry.name.isidentifier():
        raise ValueError(f"an analysis id must be a name of letters, digits and _, got {entry.name!r}")
    _REGISTRY[entry.name] = entry
    return entry


@contextmanager
def registered(*added: Entry) -> Iterator[tuple[Entry, ...]]:
    """Register ``added`` for the duration of a ``with`` block; the registry is restored after,
    whatever happens inside. The registry of worker processes is not changed, but a design
    prepared inside the block carries its analysis's entry to whatever runs its trials
    (:class:`simulate.run.prepared.PreparedDesign`), so runs inside the block use it there too."""
    saved = dict(_REGISTRY)
    try:
        yield tuple(register(e) for e in added)
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(saved)


def names() -> tuple[str, ...]:
    """The registered ids, built-in ones first, in registration order."""
    return tuple(_REGISTRY)


def entries() -> tuple[Entry, ...]:
    return tuple(_REGISTRY.values())


def get(name: str | Entry) -> Entry:
    """The entry of ``name``; a ValueError naming the registered ids otherwise. An :class:`Entry`
    is its own entry, registered here or not (a prepared design's, resolved where the design was
    prepared)."""
    if isinstance(name, Entry):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown test {name!r}; allowed: {', '.join(map(repr, _REGISTRY))}") from None


class Labels(Mapping):
    """A read-only view id -> one attribute of each registered analysis (``title``, ``short``,
    ``label``, ...), always current: ``TEST_NAMES = Labels("title")``."""

    def __init__(self, attribute: str) -> None:
        self.attribute = attribute

    def __getitem__(self, name: str) -> Any:
        if name not in _REGISTRY:
            raise KeyError(name)
        return getattr(_REGISTRY[name], self.attribute)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_REGISTRY))

    def __len__(self) -> int:
        return len(_REGISTRY)

    def __repr__(self) -> str:
        return f"Labels({self.attribute!r}: {dict(self)!r})"


class RegisteredName:
    """Marks a scenario field whose value is a registered analysis's id
    (``Annotated[str, RegisteredName()]``): the field reference lists :func:`names` as its
    choices. The scenario's validator checks the value."""

    def choices(self) -> tuple[str, ...]:
        return names()

    def __repr__(self) -> str:
        return "RegisteredName()"
