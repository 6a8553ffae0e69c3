"""The results the public API returns. Each has the same four ways out:

- ``to_dict()``: what the command's ``--json`` prints (plain JSON types; NaN becomes None);
- ``to_frame()``: a pandas DataFrame (one row per trial design, grid point, n or patient);
- ``summary()``: the plain-language text the command prints;
- ``_repr_html_()``: in Jupyter, a compact table and the verdict, with the summary folded below.

The figures they draw are ``simulate.api.figures``'. The records beneath (``.record``) are
the main job's own and may change between minor versions; the attributes named here are stable.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from simulate.design.scenario import Scenario
    from simulate.run.calibrate import Calibration
    from simulate.run.results import PowerResult as PowerRecord, RunResults
    from simulate.run.samplesize_results import SampleSizeResult as SampleSizeRecord
    from simulate.screening.screen import Screening


def text_table(frame: pd.DataFrame) -> str:
    """A frame as the commands print it: every column, no index, wide lines."""
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 50, "display.max_colwidth", 70):
        return frame.to_string(index=False)


def plain(obj: Any) -> Any:
    """``obj`` as JSON would give it back: NaN as None, numpy scalars as numbers, tuples as lists."""
    from simulate.io import json_ready

    return json.loads(json.dumps(json_ready(obj), allow_nan=False,
                                 default=lambda o: o.item() if hasattr(o, "item") else str(o)))


class Result:
    """What every result shares: its scenario, and ``to_dict``, ``to_frame``, ``summary`` and
    its display in Jupyter."""

    scenario: Scenario
    title = "trialsim result"

    def to_dict(self) -> dict:
        """What the command's ``--json`` prints: plain JSON types, NaN as None."""
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:
        """The result as a pandas DataFrame (what each row is, each result says)."""
        raise NotImplementedError

    def summary(self) -> str:
        """The plain-language text the command prints."""
        raise NotImplementedError

    def verdict(self) -> str:
        """The result in one or two sentences (the first lines of ``summary`` by default)."""
        return self.summary().strip().splitlines()[0]

    def compact(self) -> pd.DataFrame:
        """The few columns and rows shown in Jupyter (default: the frame's first rows)."""
        return self.to_frame().head(12)

    def _repr_html_(self) -> str:
        table = self.compact().to_html(index=False, border=0, na_rep="–", float_format=lambda v: f"{v:.4g}")
        return (f'<div class="trialsim-result"><p><strong>{html.escape(self.title)}</strong> · '
                f'{html.escape(self.scenario.name)}</p><p>{html.escape(self.verdict())}</p>{table}'
                f"<details><summary>Summary</summary><pre>{html.escape(self.summary())}</pre></details></div>")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of '{self.scenario.name}': {self.verdict()}>"


@dataclass(frozen=True, repr=False)
class PowerResult(Result):
    """Power and the operating characteristics of one design (``simulate.power``)."""

    scenario: Scenario
    record: PowerRecord
    """Every figure the command's JSON holds, with its Monte Carlo error."""
    title = "Power"

    @property
    def power(self) -> float:
        """The share of simulated trials that succeed (as ``analysis.success`` counts it)."""
        return self.record.power

    @property
    def mc_se(self) -> float:
        """The Monte Carlo standard error of ``power``."""
        return self.record.mc_se

    @property
    def ci(self) -> tuple[float, float]:
        """The 95% Monte Carlo interval of ``power``."""
        return self.record.ci_low, self.record.ci_high

    @property
    def replicates(self) -> int:
        return self.record.replicates

    @property
    def seed(self) -> int:
        return self.record.seed

    @property
    def n_per_arm(self) -> int:
        return self.record.n_per_arm

    @property
    def type1_error(self) -> float | None:
        """The type I error in the design's null world (None when it was not simulated)."""
        null = self.record.null_world
        return None if not null else null["type1_error"]

    def to_dict(self) -> dict:
        return plain(self.record.to_dict())

    def to_frame(self) -> pd.DataFrame:
        return self.record.to_frame()

    def comparisons(self) -> pd.DataFrame:
        """One row per experimental arm against the control: power, true difference, estimates."""
        from simulate.run.record import frame

        return frame([plain(c.to_json()) for c in self.record.comparisons])

    def summary(self) -> str:
        from simulate.report.sentences.console import power_lines

        return "\n".join(power_lines(self.scenario, self.record))

    def verdict(self) -> str:
        from simulate.report.sentences.console import power_with_interval

        r = self.record
        what = "assurance" if r.rates_from == "design_prior" else "power"
        line = (f"{what.capitalize()} {power_with_interval(r)} at {r.n_per_arm} per arm "
                f"({r.test} test, {r.replicates:,} trials, seed {r.seed}).")
        if self.type1_error is not None:
            line += f" Type I error in the null world: {self.type1_error:.4f}."
        return line

    def compact(self) -> pd.DataFrame:
        frame = self.to_frame()
        keep = [c for c in ("n_per_arm", "power", "mc_se", "ci_low", "ci_high", "null_type1_error",
                            "expected_randomised", "mean_duration_months", "p_recruitment_on_time")
                if c in frame.columns]
        return frame[keep]


@dataclass(frozen=True, repr=False)
class SampleSizeResult(Result):
    """The smallest n per arm reaching a target power or assurance (``simulate.sample_size``)."""

    scenario: Scenario
    record: SampleSizeRecord
    target: float
    precision: int | None = None
    title = "Sample size"

    @property
    def n_per_arm(self) -> int | None:
        """The answer: None if no n up to the search's limit reaches the target."""
        return self.record.n_per_arm

    @property
    def n_range(self) -> tuple[int, int] | None:
        """The n the Monte Carlo error cannot tell apart from the answer."""
        return self.record.n_range

    def to_dict(self) -> dict:
        return plain(self.record.to_json())

    def to_frame(self) -> pd.DataFrame:
        return self.record.to_frame()

    def summary(self) -> str:
        from simulate.report.sentences.console import SAMPLESIZE_COLUMNS, samplesize_heading, samplesize_lines

        parts = [samplesize_heading(self.scenario, self.target)]
        if self.record.curve:
            parts.append(text_table(self.to_frame()[list(SAMPLESIZE_COLUMNS)].round(4)))
        parts.append("\n".join(samplesize_lines(self.record, self.precision, self.scenario)))
        return "\n".join(parts)

    def verdict(self) -> str:
        r = self.record
        if r.n_per_arm is None:
            return f"No n per arm up to the search's limit reaches {r.measure} {self.target:g}."
        return f"{r.n_per_arm} per arm for {r.measure} {self.target:g} (simulated {r.measure} {r.power:.3f})."


@dataclass(frozen=True, repr=False)
class CalibrationResult(Result):
    """A Bayesian design's success threshold calibrated to a type I error (``simulate.calibrate``)."""

    scenario: Scenario
    record: Calibration
    title = "Calibration"

    @property
    def threshold(self) -> float:
        return self.record.threshold

    def to_dict(self) -> dict:
        return plain(self.record.to_json())

    def to_frame(self) -> pd.DataFrame:
        """The type I error at a grid of thresholds, from the calibration's null trials."""
        from simulate.run.record import frame

        return frame([dict(row) for row in self.record.curve])

    def summary(self) -> str:
        r = self.record
        lines = [f"Calibration of '{self.scenario.name}': {r.replicates:,} null trials, seed {r.seed}\n",
                 f"  threshold         {r.threshold:.5f} (95% Monte Carlo interval {r.threshold_low:.5f}-"
                 f"{r.threshold_high:.5f}): success when the posterior probability of benefit exceeds it",
                 f"  type I error      {r.type1_error:.4f} on the calibration's trials (target {r.target_type1:g}); "
                 f"{r.type1_error_check:.4f} ± {r.type1_error_check_mc_se:.4f} on fresh ones (seed {r.seed + 1})",
                 f"  power             {r.power:.3f} ± {r.power_mc_se:.3f} at the threshold, at the scenario's rates"]
        if r.null_design:
            lines.append(f"  null world        {r.null_design}")
        lines.append(f"\n  use it: --set analysis.success_threshold={r.threshold:.5f}")
        return "\n".join(lines)

    def verdict(self) -> str:
        r = self.record
        return (f"Success threshold {r.threshold:.5f} gives type I error {r.type1_error_check:.4f} on fresh null "
                f"trials (target {r.target_type1:g}) and power {r.power:.3f}.")


@dataclass(frozen=True, repr=False)
class SweepResult(Result):
    """Power over a scenario's ``[sweep]`` grid (``simulate.sweep``)."""

    scenario: Scenario
    frame: pd.DataFrame
    out: Path | None = None
    """The CSV file written, if any."""
    title = "Sweep"

    def to_dict(self) -> dict:
        return plain({"grid": self.frame.to_dict(orient="records"), "out": None if self.out is None else str(self.out)})

    def to_frame(self) -> pd.DataFrame:
        return self.frame.copy()

    def summary(self) -> str:
        text = text_table(self.frame.round(4))
        return text if self.out is None else f"{text}\n\nsweep written to {self.out}"

    def verdict(self) -> str:
        p = self.frame["power"]
        return f"{len(self.frame)} grid points: power from {p.min():.3f} to {p.max():.3f}."


@dataclass(frozen=True, repr=False)
class TrialResult(Result):
    """One simulated trial, patient by patient (``simulate.trial``)."""

    scenario: Scenario
    seed: int
    record: Any
    """The engine's record of the trial (patients, visits, events, CONSORT counts, calendar)."""
    json: dict
    """What ``trial.json`` holds and ``trialsim trial --json`` prints."""
    folder: Path | None = None
    """The folder its tables were written to, if any."""
    title = "One trial"

    @property
    def patients(self) -> pd.DataFrame:
        return self.record.patients

    @property
    def visits(self) -> pd.DataFrame:
        return self.record.visits

    @property
    def events(self) -> pd.DataFrame:
        return self.record.events

    def to_dict(self) -> dict:
        import copy

        return copy.deepcopy(self.json)

    def to_frame(self) -> pd.DataFrame:
        """One row per randomised patient."""
        return self.record.patients.copy()

    def summary(self) -> str:
        from simulate.report.sentences.trial import story_lines

        text = "\n".join(story_lines(self.scenario, self.seed, self.record))
        return text if self.folder is None else f"{text}\n\ntables written to {self.folder}/"

    def verdict(self) -> str:
        d = self.json
        parts = []
        for a in d.get("analysis") or ():
            p = f", p = {a['p_value']:.4f}" if a.get("p_value") is not None else ""
            est = f"{a['estimate']:+.3f}" if a.get("estimate") is not None else "no estimate"
            parts.append(f"{a['arm']} vs {a['control']}: difference {est}{p}"
                         + (" (significant)" if a.get("reject") else " (not significant)"))
        tail = f"; {'; '.join(parts)}" if parts else ""
        return (f"{d['n_randomised']} randomised over {d['recruitment_months']:.1f} months, decided at month "
                f"{d['duration_months']:.1f}{tail}.")

    def compact(self) -> pd.DataFrame:
        import pandas as pd

        rows = [{"arm": arm, "randomised": n, "in remission at the endpoint": self.json["remission_at_endpoint"].get(arm)}
                for arm, n in self.json["n_per_arm"].items()]
        return pd.DataFrame(rows)


@dataclass(frozen=True, repr=False)
class CohortResult(Result):
    """A referred cohort screened against the eligibility criteria (``simulate.cohort``)."""

    scenario: Scenario
    n: int
    seed: int
    screening: Screening
    frame: pd.DataFrame
    out: Path | None = None
    title = "Screened cohort"

    def to_dict(self) -> dict:
        return plain(self.screening.summary())

    def to_frame(self) -> pd.DataFrame:
        """One row per referred patient, with whether each rule passes and the status."""
        return self.frame.copy()

    def funnel(self) -> pd.DataFrame:
        """One row per eligibility rule, in CONSORT order."""
        return self.screening.funnel()

    def summary(self) -> str:
        from simulate.report.sentences.console import FUNNEL_COLUMNS, funnel_heading, funnel_totals

        text = "\n".join([funnel_heading(self.scenario, self.n, self.seed),
                          text_table(self.funnel()[list(FUNNEL_COLUMNS)]),
                          funnel_totals(self.screening.summary(), self.n)])
        return text if self.out is None else f"{text}\ncohort written to {self.out}"

    def verdict(self) -> str:
        s = self.screening.summary()
        return f"{s['eligible']:,} of {s['screened']:,} referred patients eligible now, {s['deferred']:,} deferred."

    def compact(self) -> pd.DataFrame:
        from simulate.report.sentences.console import FUNNEL_COLUMNS

        return self.funnel()[list(FUNNEL_COLUMNS)]


@dataclass(frozen=True, repr=False)
class RunResult(Result):
    """The main job's results and the folder it wrote (``simulate.run``)."""

    results: RunResults
    folder: Path
    title = "Run"

    @property
    def scenario(self) -> Scenario:      # type: ignore[override]
        return self.results.scenario

    @property
    def power(self) -> PowerResult:
        return PowerResult(self.results.scenario, self.results.power)

    @property
    def report(self) -> Path:
        """The report's HTML file."""
        return self.folder / "report.html"

    def to_dict(self) -> dict:
        """What run.json records: the scenario, settings, versions, timings and summary."""
        return json.loads((self.folder / "run.json").read_text())

    def to_frame(self) -> pd.DataFrame:
        """The power table (power.csv's row)."""
        return self.results.power.to_frame()

    def summary(self) -> str:
        return "\n".join(self.results.summary) + f"\n\nresults, plots and report.html written to {self.folder}/"

    def verdict(self) -> str:
        from simulate.report.verdict import verdict

        return verdict(self.results).headline

    def compact(self) -> pd.DataFrame:
        return self.power.compact()

    def figure_names(self) -> tuple[str, ...]:
        """The report's figures, by name, for ``figure``."""
        from simulate.report.figure_list import figure_names

        return figure_names(self.results)

    def figure(self, name: str):
        """One figure of the report as a matplotlib Figure (None where there is nothing to draw);
        a name not among ``figure_names`` is a one-line ``UsageError``."""
        from simulate.errors import UsageError
        from simulate.report.drawing import figure

        names = self.figure_names()
        if name not in names:
            raise UsageError(f"figure: got {name!r}; allowed for this run: {', '.join(names)}")
        return figure(self.results, name)
