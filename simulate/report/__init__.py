"""The report: figures (PNG) and one self-contained ``report.html`` from a run's results.

:func:`write_report` takes the ``data`` dict that :func:`simulate.pipeline.run_all` builds and
computes nothing of substance: every number shown comes from ``data`` or the scenario.
Figures are drawn with the Agg backend and written atomically; the HTML embeds them as base64
data URIs so the page opens offline as a single file.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # never switch the backend under a running session
    matplotlib.use("Agg")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from simulate import scenario as sc  # noqa: E402
from simulate.io import write_bytes_atomic, write_text_atomic  # noqa: E402
from simulate.report import html, plots  # noqa: E402

log = logging.getLogger(__name__)

DPI = 110
FIGURES = ("power_curve", "power_heatmap", "consort", "accrual", "time_to_remission", "swimmer")
"""Figure names, in the report's order; each is written as ``<name>.png``."""

_PHRASES = {
    "probability_by_endpoint": "dropout by the endpoint (probability)",
    "n_per_arm": "patients per arm (n)",
    "rate_per_site_month": "referrals per site per month",
}


def axis_label(scenario: sc.Scenario, path: str) -> str:
    """A readable name for a dotted scenario path, e.g. 'RTX + CsA: remission at month 24 (probability)'."""
    parts = path.split(".")
    field = parts[-1]
    if field == "remission_at_endpoint":
        phrase = f"remission at month {scenario.trial.endpoint_month:g} (probability)"
    else:
        phrase = _PHRASES.get(field, field.replace("_", " "))
    if parts[0] == "arms" and len(parts) == 3 and parts[1] in sc.ARMS:
        return f"{scenario.arm(parts[1]).label}: {phrase}"
    return phrase[0].upper() + phrase[1:]


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with plots.theme():
        FigureCanvasAgg(fig)
        fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()


def _close(fig: Figure) -> None:
    import matplotlib.pyplot as plt

    plt.close(fig)  # a no-op for figures pyplot never saw, kept so nothing can linger
    fig.clear()


def _lookup(tree: dict, path: str):
    for part in path.split("."):
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def build_figures(scenario: sc.Scenario, data: dict) -> dict[str, Figure | None]:
    """Every figure of the report as a Figure (``None`` where the data has nothing to draw)."""
    arm_labels = {arm: scenario.arm(arm).label for arm in sc.ARMS}
    ss, power, ex = data["samplesize"], data["power"], data["example_trial"]
    acc = data["accrual"]
    sweep = data.get("sweep") or {}
    funnel = (data.get("screening") or {}).get("funnel") or []
    dumped = scenario.model_dump(mode="json")
    missing = {"nonresponder": "dropouts counted as no remission", "complete_case": "complete cases only",
               "locf": "last observation carried forward"}.get(scenario.analysis.missing, scenario.analysis.missing)
    builders = {
        "power_curve": lambda: plots.power_curve(
            ss.get("curve") or [], ss.get("closed_form_curve") or [],
            {0.8: (ss.get("target_80") or {}).get("n_per_arm"), 0.9: (ss.get("target_90") or {}).get("n_per_arm")},
            scenario.trial.n_per_arm, power.get("replicates"), power,
            scenario.analysis.alpha),
        "power_heatmap": lambda: plots.power_heatmap(
            sweep.get("rows") or [], list(sweep.get("axes") or []),
            {a: axis_label(scenario, a) for a in sweep.get("axes") or []},
            {a: _lookup(dumped, a) for a in sweep.get("axes") or []}),
        "consort": lambda: plots.consort(
            ex["consort"], power.get("mean_consort") or {}, power.get("replicates"), arm_labels,
            {r["criterion"]: r["description"] for r in funnel if r.get("description")}, missing,
            scenario.trial.n_target),
        "accrual": lambda: plots.accrual(
            acc["curves"], acc["n_target"], acc["recruitment_months"], acc["hard_stop_months"], acc.get("observed")),
        "time_to_remission": lambda: plots.time_to_remission(
            ex.get("kaplan_meier") or {}, arm_labels, scenario.trial.endpoint_month,
            {arm: scenario.arm(arm).remission_at_endpoint for arm in sc.ARMS}),
        "swimmer": lambda: plots.swimmer(ex.get("patients") or [], arm_labels, scenario.trial.endpoint_month),
    }
    return {name: builders[name]() for name in FIGURES}


def write_report(out_dir: Path, scenario: sc.Scenario, data: dict, seed: int,
                 scenario_path: Path | None = None) -> dict[str, str]:
    """Write every figure as PNG and ``report.html`` into ``out_dir``; returns {figure name: file name}.

    ``scenario_path``, when given, is the scenario file the run was loaded from: its comments
    become the sources column of the assumptions table and it appears in the reproduce command.
    """
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    written: dict[str, str] = {}
    images: dict[str, bytes] = {}
    for name, fig in build_figures(scenario, data).items():
        path = out_dir / f"{name}.png"
        if fig is None:
            path.unlink(missing_ok=True)  # a stale figure from an earlier run would mislead
            log.info("figure %s: nothing to draw, skipped", name)
            continue
        try:
            images[name] = _png(fig)
        finally:
            _close(fig)
        write_bytes_atomic(path, images[name])
        written[name] = path.name
        log.debug("figure %s written (%d bytes)", name, len(images[name]))
    page = html.render(scenario, data, images, seed=seed, scenario_path=scenario_path,
                       axis_label=lambda p: axis_label(scenario, p))
    write_text_atomic(out_dir / "report.html", page)
    log.info("report written to %s in %.1f s", out_dir / "report.html", time.perf_counter() - t0)
    return written
