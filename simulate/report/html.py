"""``report.html``: one self-contained page (inline CSS, figures as base64 data URIs).

Order: title and plain-language summary, figures with captions, tables (power, sample size,
sweep, CONSORT counts, eligibility funnel), assumptions with their sources (the scenario file's
comments, as the run recorded them), and how to reproduce the run. Every piece of text is
escaped. The page renders a :class:`~simulate.results.RunResults` and the validated scenario in
it; it reads no file and computes no statistic.
"""

from __future__ import annotations

import base64
import logging
import platform
import shlex
from html import escape
from pathlib import Path
from typing import Any, Callable

import matplotlib
import numpy as np
import pandas as pd
import seaborn as sns

import simulate
from simulate import scenario as sc
from simulate.engines import CONSORT_FIELDS, DEFAULT_ENGINE
from simulate.loader import parse_override
from simulate.results import (PowerResult, RunResults, SampleSizePlan, ScenarioSource, ScreeningFunnel,
                              SweepResult)

log = logging.getLogger(__name__)

MAIN_SECTIONS = ("trial", "arms", "outcome", "dropout", "analysis", "recruitment")
OTHER_SECTIONS = ("randomisation", "cohort", "eligibility", "definitions", "observed")
SHIPPED = Path(simulate.__file__).resolve().parents[1] / "scenarios"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
 max-width:1120px;margin:0 auto;padding:1.5rem 2rem 4rem;line-height:1.5}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.6rem;border-bottom:2px solid #ddd;padding-bottom:.2rem}
h3{margin-top:1.8rem}.lead{color:#555;margin-top:0}
.summary{background:#eef4fb;border-left:6px solid #4c72b0;padding:.8rem 1.2rem;font-size:1.08rem;margin:1.2rem 0}
.summary li{margin:.35rem 0}
figure{margin:2rem 0;text-align:center}figure img{max-width:100%;height:auto;border:1px solid #e3e3e3}
figcaption{color:#444;font-size:.95rem;max-width:900px;margin:.4rem auto 0;text-align:left}
figcaption b{color:#222}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
th,td{border:1px solid #d6d6d6;padding:.28rem .6rem;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.assumption td{background:#fff6d6}tr.overridden td{background:#fde2e1}
td.good{font-weight:bold;color:#1b5e20}
.badge{display:inline-block;font-size:.75rem;padding:0 .4rem;border-radius:.6rem;background:#f0c24b;color:#3b2f00;
 margin-right:.3rem}.badge.set{background:#e57373;color:#fff}
pre{background:#f5f5f5;padding:.7rem 1rem;overflow-x:auto;border-radius:4px}
.note{color:#555;font-size:.92rem}details{margin:1rem 0}summary{cursor:pointer;font-weight:bold}
blockquote{color:#555;border-left:4px solid #ddd;margin:.8rem 0;padding:.2rem 1rem}
"""

CAPTIONS = {
    "power_curve": "Each blue point is the share of simulated trials with a significant result at that number "
                   "per arm (shaded: its 95% Monte Carlo interval); grey lines are closed-form approximations, "
                   "horizontal lines the 80% and 90% targets, diamonds the smallest n reaching each, and the red "
                   "dashed line the planned n.",
    "consort": "Read top to bottom: how many patients of one simulated trial were referred, excluded (by the first "
               "criterion failed), deferred or lost, randomised, and then allocated, dropped out and analysed in "
               "each arm; grey text gives the mean over all simulated trials.",
    "accrual": "Each thin line is one simulated trial's cumulative randomisations (bold: their median); compare "
               "them with the planned straight line to the target before the hard stop, and with the star that "
               "marks what the real trial achieved.",
    "time_to_remission": "Each step curve is the share of one arm of the example trial that has reached a first "
                         "remission by each month after randomisation; diamonds mark the remission rates assumed "
                         "at the endpoint, which sit lower because some remissions are lost to relapse.",
    "swimmer": "Each bar is one patient of the example trial, from randomisation to the endpoint or dropout; stars "
               "and triangles mark first remission (CR or PR at the endpoint), open circles remissions lost by the "
               "endpoint, red triangles relapses and crosses dropouts.",
}
TITLES = {
    "power_curve": "Power against sample size", "power_heatmap": "Sensitivity of power",
    "consort": "CONSORT flow of the example trial", "accrual": "Recruitment against the plan",
    "time_to_remission": "Time to remission", "swimmer": "Patients of the example trial",
}


# ----------------------------------------------------------------------------- small helpers


class Raw(str):
    """Markup built here from escaped parts: :func:`_table` inserts it as is."""


def _e(value: Any) -> str:
    return value if isinstance(value, Raw) else escape(str(value), quote=True)


def _f(value: Any, fmt: str = ".3f") -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "—"
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return format(value, fmt)
    return str(value)


def _pm(value: Any, se: Any, fmt: str = ".3f") -> str:
    return _f(value, fmt) if se is None else f"{_f(value, fmt)} ± {_f(se, fmt)}"


def _table(headers: list[str], rows: list[list[Any]], numeric: set[int] = frozenset(),
           row_classes: list[str] | None = None, cell_classes: dict[tuple[int, int], str] | None = None) -> str:
    """An HTML table; cells are escaped here, so pass plain text."""
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for i, row in enumerate(rows):
        cls = row_classes[i] if row_classes and row_classes[i] else ""
        out.append(f'<tr class="{cls}">' if cls else "<tr>")
        for j, cell in enumerate(row):
            classes = " ".join(c for c in ("num" if j in numeric else "", (cell_classes or {}).get((i, j), "")) if c)
            out.append(f'<td class="{classes}">{_e(cell)}</td>' if classes else f"<td>{_e(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if v is None:
        return "—"
    return str(v)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for k, v in obj.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix.rstrip("."): obj}


def _override_paths(overrides: tuple[str, ...]) -> set[str]:
    """The dotted paths that ``--set PATH=VALUE`` texts set."""
    return {".".join(parse_override(text)[0]) for text in overrides}


# ----------------------------------------------------------------------------- sections


def _summary(results: RunResults) -> str:
    scenario = results.scenario
    items = "".join(f"<li>{_e(s)}</li>" for s in results.summary)
    return (f"<h1>{_e(scenario.name)}</h1><p class=\"lead\">{_e(scenario.description)}</p>"
            f'<section class="summary"><strong>In plain language</strong><ul>{items}</ul></section>')


def _lower(label: str) -> str:
    """'Dropout by ...' -> 'dropout by ...', but 'RTX + CsA: ...' stays."""
    return label[:1].lower() + label[1:] if label[1:2].islower() else label


def _heatmap_caption(sweep: SweepResult | None, axis_label: Callable[[str], str]) -> str:
    axes = list(sweep.axes) if sweep is not None else []
    n_axes = [a for a in axes if a.rsplit(".", 1)[-1] == "n_per_arm"]
    rest = [a for a in axes if a not in n_axes] + n_axes
    if len(rest) < 2:
        return (f"Simulated power as {_lower(axis_label(rest[0]))} changes (bars: 95% Monte Carlo intervals); the "
                "horizontal lines are the 80% and 90% targets.") if rest else ""
    panels = ", one panel per n per arm" if n_axes and len(rest) > 2 else ""
    return (f"Each cell is the simulated power for one combination of {_lower(axis_label(rest[0]))} and "
            f"{_lower(axis_label(rest[1]))}{panels}; white outlines mark at least 80% power and the red one the "
            "planned design; brighter (yellow) cells have more power, and 0.80 is the "
            "usual minimum.")


def _figures(images: dict[str, bytes], sweep: SweepResult | None, axis_label: Callable[[str], str]) -> str:
    out = ["<h2>Figures</h2>"]
    for name, png in images.items():
        caption = CAPTIONS.get(name) or (_heatmap_caption(sweep, axis_label) if name == "power_heatmap" else "")
        uri = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        title = TITLES.get(name, name.replace("_", " "))
        out.append(f'<figure id="{_e(name)}"><img src="{uri}" alt="{_e(title)}">'
                   f"<figcaption><b>{_e(title)}.</b> {_e(caption)}</figcaption></figure>")
    return "".join(out)


def _power_table(scenario: sc.Scenario, p: PowerResult) -> str:
    t = scenario.trial
    control, treat = (scenario.arm(a).label for a in scenario.arm_names)
    pct = lambda v, se=None: (  # noqa: E731
        f"{100 * v:.1f}%" if se is None else f"{100 * v:.1f}% ± {100 * se:.1f}%")
    q = lambda k: (f"{_f(getattr(p, f'mean_{k}'), '.1f')}; {_f(getattr(p, f'{k}_q10'), '.1f')} / "  # noqa: E731
                   f"{_f(getattr(p, f'{k}_q50'), '.1f')} / {_f(getattr(p, f'{k}_q90'), '.1f')}")
    rows = [
        ["Design", f"{p.n_per_arm} per arm ({scenario.n_target} in total); {p.test} test, "
                   f"{p.alternative}, alpha = {p.alpha}; {p.missing_strategy} analysis"],
        ["Power ± Monte Carlo SE", _pm(p.power, p.mc_se)],
        ["95% interval for the power", f"{_f(p.ci_low)} – {_f(p.ci_high)}"],
        ["Simulated trials (significant)", f"{_f(p.replicates, ',')} ({_f(p.rejections, ',')})"],
        [f"Recruitment complete within {t.recruitment_months:g} months",
         pct(p.p_recruitment_on_time, p.p_recruitment_on_time_se)],
        [f"Terminated at the hard stop ({t.hard_stop_months:g} months) short of {scenario.n_target}", pct(p.p_terminated)],
        ["Mean randomised", f"{_f(p.mean_randomised, '.1f')} of {scenario.n_target}"],
        ["Mean dropouts before the endpoint", _f(p.mean_dropouts, ".1f")],
        ["Months to the last randomisation: mean; 10th / 50th / 90th percentile", q("recruitment_months")],
        ["Trial duration in months (to the last endpoint visit): mean; 10th / 50th / 90th percentile",
         q("duration_months")],
        [f"True risk difference ({treat} − {control})", _f(p.true_difference)],
        ["Mean estimated risk difference", _f(p.mean_risk_difference)],
        ["Bias of the risk difference ± SE", _pm(p.risk_difference_bias, p.risk_difference_bias_se)],
        ["Coverage of the 95% CI for the risk difference ± SE", _pm(p.ci_coverage, p.ci_coverage_se)],
        ["Mean width of the 95% CI for the risk difference", _f(p.mean_ci_width)],
    ]
    return ("<h3>Power and operating characteristics at the planned size</h3>"
            + _table(["Quantity", "Value"], rows))


_ANALYTIC = {"pooled_normal": "Pooled normal", "fleiss_cc": "Fleiss (continuity corr.)", "arcsine": "Arcsine",
             "pooled_normal_with_dropout": "Pooled normal, with dropout",
             "fleiss_cc_with_dropout": "Fleiss, with dropout"}
"""The closed-form columns of the sample-size table (fields of AnalyticReferences), in order."""


def _samplesize_table(plan: SampleSizePlan) -> str:
    rows = []
    for s in plan.searches:
        refs = [_f(getattr(s.analytic, k), "") for k in _ANALYTIC]
        rows.append([f"{s.target:.0%}", _f(s.n_per_arm, "d"), _pm(s.power, s.mc_se), *refs,
                     s.note or s.analytic.note])
    head = ["Target power", "Simulated n per arm", "Simulated power at that n", *_ANALYTIC.values(), "Note"]
    rule = f" With dropout: {plan.dropout_rule}." if plan.dropout_rule else ""
    return ("<h3>Sample size per arm</h3><p class=\"note\">Simulated: the smallest n per arm whose simulated power "
            "reaches the target, with recruitment, dropout and the planned analysis. The closed-form columns are "
            f"the textbook references for two proportions.{_e(rule)}</p>"
            + _table(head, rows, numeric=set(range(1, len(head) - 1))))


def _sweep_table(sweep: SweepResult | None, axis_label: Callable[[str], str]) -> str:
    if sweep is None or not sweep.points:
        return ""
    axes = list(sweep.axes)
    rows, cells = [], {}
    for i, p in enumerate(sweep.points):
        rows.append([*[_value(p.values.get(a)) for a in axes], _pm(p.power, p.mc_se),
                     f"{_f(p.ci_low)} – {_f(p.ci_high)}", _f(p.p_recruitment_on_time, ".2f"),
                     _f(p.mean_randomised, ".1f"), _f(p.mean_duration_months, ".1f"), _f(p.mean_dropouts, ".1f")])
        if p.power >= 0.8:
            cells[(i, len(axes))] = "good"
    head = [*[axis_label(a) for a in axes], "Power ± MC SE", "95% interval", "P(recruited on time)",
            "Mean randomised", "Mean duration (months)", "Mean dropouts"]
    return ("<h3>Sensitivity grid</h3><p class=\"note\">Power of at least 0.80 in bold.</p>"
            + _table(head, rows, numeric=set(range(len(head))), cell_classes=cells))


_CONSORT_LABELS = {"referred": "Referred and screened", "excluded_total": "Excluded (criteria not met)",
                   "deferred": "Deferred (washout or run-in)", "lost_during_deferral": "Lost while deferred",
                   "not_randomised_enrolment_closed": "Not randomised: enrolment closed", "randomised": "Randomised"}
"""How each of :data:`simulate.engines.CONSORT_FIELDS` is named in the CONSORT table."""


def _consort_table(results: RunResults) -> str:
    scenario, p = results.scenario, results.power
    ex = results.example_trial.consort
    names = {s.criterion: s.description or s.criterion for s in results.screening.steps}
    rows = [[_CONSORT_LABELS[k], _f(getattr(ex, k), ","), _f(p.mean_consort[k], ",.1f")] for k in CONSORT_FIELDS]
    rows += [[f"Excluded: {names.get(k, k.replace('_', ' '))}", _f(v, ","), "—"] for k, v in ex.excluded.items() if v]
    for arm in scenario.arm_names:
        lab = scenario.arm(arm).label
        for counts, what in ((ex.randomised_per_arm, "allocated"), (ex.discontinued_per_arm, "dropped out"),
                             (ex.analysed_per_arm, "analysed")):
            rows.append([f"{lab}: {what}", _f(counts.get(arm), ","), "—"])
    return ("<h3>CONSORT counts</h3>" + _table(
        ["Count", "Example trial", f"Mean over {_f(p.replicates, ',')} simulated trials"], rows, numeric={1, 2}))


def _funnel_table(screening: ScreeningFunnel) -> str:
    if not screening.steps:
        return ""
    rows = [[s.description or s.criterion, s.kind, _f(s.failing, ","), _f(s.excluded, ","), _f(s.deferred, ","),
             _f(s.remaining, ",")] for s in screening.steps]
    return (f"<h3>Eligibility funnel of {_f(screening.screened, ',')} simulated referrals</h3><p class=\"note\">"
            "Criteria in the registry's order; a patient is counted at the first criterion failed. Time-dependent "
            "criteria (washout, run-in) defer rather than exclude.</p>"
            + _table(["Criterion", "Kind", "Failing", "Excluded here", "Deferred here", "Remaining"], rows,
                     numeric={2, 3, 4, 5}))


def _assumptions(scenario: sc.Scenario, source: ScenarioSource | None, overrides: tuple[str, ...]) -> str:
    header, comments = (source.header, source.comments) if source is not None else ("", {})
    values = _flatten(scenario.model_dump(mode="json"))
    set_here = _override_paths(overrides)
    out = ["<h2>Assumptions and their sources</h2>"]
    if source is None:
        out.append("<p class=\"note\">The scenario file was not given, so sources cannot be shown; they are the "
                   "comments of the scenario file.</p>")
    else:
        out.append(f"<p class=\"note\">Values as simulated; sources are the comments of <code>{_e(source.path)}</code>. "
                   "Rows marked <span class=\"badge\">assumption</span> rest on an assumption rather than a "
                   "published figure or the registry; rows marked <span class=\"badge set\">set</span> were "
                   "overridden for this run.</p>")
    if header:
        out.append(f"<blockquote>{_e(header)}</blockquote>")

    def overridden(key: str) -> bool:
        return any(key == path or key.startswith(path + ".") for path in set_here)

    def table(sections: tuple[str, ...]) -> tuple[str, int, int]:
        rows, classes, n_assumed = [], [], 0
        for key, v in values.items():
            if key.split(".", 1)[0] not in sections:
                continue
            note = comments.get(key, "")
            assumed = "[assumption" in note.lower()
            is_set = overridden(key)
            flag = Raw("".join(b for b, on in (('<span class="badge set">set</span>', is_set),
                                                ('<span class="badge">assumption</span>', assumed)) if on))
            if is_set:
                note = f"set for this run with --set. {note}".strip()
            rows.append([key, _value(v), flag, note or "—"])
            classes.append("overridden" if is_set else "assumption" if assumed else "")
            n_assumed += assumed
        return _table(["Parameter", "Value", "Flag", "Source (scenario file comment)"], rows,
                      row_classes=classes), n_assumed, len(rows)

    main, k, n = table(MAIN_SECTIONS)
    out.append(f"<p>{k} of these {n} design and model values are marked as assumptions.</p>" if comments else "")
    out.append(main)
    rest, k2, n2 = table(OTHER_SECTIONS)
    out.append(f"<details><summary>Randomisation, referred population, eligibility thresholds, remission "
               f"definitions and the real trial ({n2} values, {k2} assumptions)</summary>{rest}</details>")
    return "".join(out)


def _reproduce(results: RunResults) -> str:
    scenario, seed, replicates, engine = results.scenario, results.seed, results.replicates, results.engine
    path = results.source.path if results.source is not None else None
    shown = path if path is not None else f"scenarios/{scenario.name}.toml"
    cmd = ["trialsim", "run", shown, "--seed", str(seed), "--replicates", str(replicates)]
    if engine != DEFAULT_ENGINE:
        cmd += ["--engine", engine]
    for text in results.overrides:
        cmd += ["--set", text]
    notes = []
    if path is None:
        notes.append("The scenario file was not recorded; use the file this scenario was loaded from.")
    command = " ".join(shlex.quote(c) for c in cmd)
    make_ok = (not results.overrides and seed == scenario.simulation.seed
               and replicates == scenario.simulation.replicates and engine == DEFAULT_ENGINE)
    default = path is None or Path(path).resolve() == (SHIPPED / "nct04743739.toml").resolve()
    target = "make run" if default else f"make run SCENARIO={shlex.quote(shown)}"
    make = (f"<p>Or, from the project folder:</p><pre>{_e(target)}</pre>" if make_ok else
            f"<p class=\"note\"><code>{_e(target)}</code> uses the scenario's own seed "
            f"({scenario.simulation.seed}) and replicate count ({scenario.simulation.replicates:,}) with no "
            "overrides, so it reproduces this run only when those match; the command above always does.</p>")
    versions = [["trialsim", simulate.__version__], ["Python", platform.python_version()],
                ["numpy", np.__version__], ["pandas", pd.__version__], ["matplotlib", matplotlib.__version__],
                ["seaborn", sns.__version__]]
    settings = [["Seed", str(seed)], ["Replicates per design point", f"{replicates:,}"], ["Engine", engine],
                ["Trials per seeded block", str(scenario.simulation.block_size)],
                ["Scenario hash", sc.scenario_hash(scenario)]]
    return ("<h2>How to reproduce</h2><p>The same command, seed and versions give the same numbers "
            "(for any number of jobs):</p>"
            f"<pre>{_e(command)}</pre>{make}"
            + "".join(f'<p class="note">{_e(n)}</p>' for n in notes)
            + "<h3>Run settings</h3>" + _table(["Setting", "Value"], settings)
            + "<h3>Versions</h3>" + _table(["Package", "Version"], versions))


def render(results: RunResults, images: dict[str, bytes], axis_label: Callable[[str], str] | None = None) -> str:
    """The report page as one HTML string; ``images`` maps figure names to PNG bytes, in order."""
    axis_label = axis_label or (lambda p: p)
    scenario = results.scenario
    body = [
        _summary(results),
        _figures(images, results.sweep, axis_label),
        "<h2>Tables</h2>",
        _power_table(scenario, results.power),
        _samplesize_table(results.samplesize),
        _sweep_table(results.sweep, axis_label),
        _consort_table(results),
        _funnel_table(results.screening),
        _assumptions(scenario, results.source, results.overrides),
        _reproduce(results),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(scenario.name)}: trial simulation report</title><style>{CSS}</style></head><body>"
            + "\n".join(b for b in body if b) + "</body></html>\n")
