"""The plots follow the scenario (issue 14): a null scenario's power curve and sweep heatmap are
type I error plots (axis from 0 to a little above alpha, three decimals, an alpha line, cells
above alpha marked, no power targets); a small pilot's planned design is inside the axis; the
sample-size table has one note column and promises only the columns it has; "not reached" says
up to the n its search evaluated, as the summary does; the swimmer plot keeps a capped height
and one marker per dropout reason.

Small real runs of the shipped scenarios; the figures are read as Figure objects (limits, texts,
artists), never as images.
"""

from __future__ import annotations

import html

import math
import re
from pathlib import Path

import matplotlib as mpl
import numpy as np
import pytest

from simulate.design.loader import load_scenario
from simulate.run.main_job import run_all
from simulate.report import power_plots, remission_plots
from simulate.report.drawing import build_figures
from simulate.report.page import write_report
from simulate.report.verdict import is_null
from simulate.run.trial_results import PatientCourse

ROOT = Path(__file__).resolve().parents[1]
REPLICATES = 60
OVERRIDES = ("simulation.block_size=60",)


def _run(tmp_path_factory, name: str):
    out = tmp_path_factory.mktemp(name)
    path = ROOT / "scenarios" / f"{name}.toml"
    scenario = load_scenario(path, OVERRIDES)
    results = run_all(scenario, out, replicates=REPLICATES, jobs=1, report=False, scenario_path=path,
                      overrides=OVERRIDES)
    write_report(out, results)
    return results, build_figures(results), (out / "report.html").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def null_run(tmp_path_factory):
    return _run(tmp_path_factory, "teaching_null")


@pytest.fixture(scope="module")
def pilot_run(tmp_path_factory):
    return _run(tmp_path_factory, "teaching_small_pilot")


@pytest.fixture(scope="module")
def observed_run(tmp_path_factory):
    return _run(tmp_path_factory, "nct04743739_observed_accrual")


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend() or ax.figure.legends[0]
    return [t.get_text() for t in legend.get_texts()]


def tick_labels(ax, axis: str = "y") -> list[str]:
    ticks = ax.get_yticks() if axis == "y" else ax.get_xticks()
    fmt = (ax.yaxis if axis == "y" else ax.xaxis).get_major_formatter()
    return [fmt(v, i) for i, v in enumerate(ticks)]


# ----------------------------------------------------------------------------- null scenario


def test_null_power_curve_is_a_type_one_error_curve(null_run):
    results, figures, _ = null_run
    assert is_null(results.power)
    alpha = results.scenario.analysis.alpha
    ax = figures["power_curve"].axes[0]
    bottom, top = ax.get_ylim()
    data = [v for c in results.samplesize.curve for v in (c.power, c.ci_high)] + [results.power.ci_high]
    highest = max(alpha, *data)
    assert bottom == 0.0 and highest <= top <= 1.3 * highest + 0.01  # a little above, not 0 to 100%
    assert all(re.fullmatch(r"\d\.\d{3}", t) for t in tick_labels(ax)), tick_labels(ax)
    texts = legend_texts(ax)
    assert any(t.startswith(f"α = {alpha:.3f}") for t in texts), texts
    assert not any("power target" in t or "not reached" in t or "80%" in t or "90%" in t for t in texts), texts
    assert any(np.allclose(line.get_ydata(), alpha) for line in ax.get_lines() if len(line.get_ydata()) == 2)
    assert "Type I error" in ax.get_ylabel() and "Type I error" in ax.get_title()


def test_null_heatmap_shows_three_decimals_and_marks_cells_above_alpha(null_run):
    results, figures, _ = null_run
    alpha = results.scenario.analysis.alpha
    fig = figures["power_heatmap"]
    annotations = [t.get_text() for ax in fig.axes for t in ax.texts]
    points = results.sweep.points
    assert len(annotations) == len(points) and all(re.fullmatch(r"\d\.\d{3}", t) for t in annotations)
    assert sorted(annotations) == sorted(f"{p.power:.3f}" for p in points)  # the numbers of sweep.csv
    assert fig.trialsim_marked == sum(p.power > alpha for p in points)
    title = fig._suptitle.get_text()
    assert f"above alpha = {alpha:.3f}" in title and "80%" not in title and "0.80" not in title
    bar = fig.axes[-1]  # the colour bar: the same three decimals, and a scale near alpha, not 0-100%
    labels = tick_labels(bar)
    assert all(re.fullmatch(r"\d\.\d{3}", t) for t in labels), labels
    assert max(bar.get_ylim()) < 0.2 and "type I error" in bar.get_ylabel()


def test_null_report_speaks_of_type_one_error_not_power_targets(null_run):
    results, _, page = null_run
    alpha = results.scenario.analysis.alpha
    assert "horizontal lines the 80% and 90% targets" not in page
    assert "white outlines mark at least 80% power" not in page and "Power of at least 0.80 in bold" not in page
    assert f"alpha ({alpha:.3f})" in page and "Type I error against sample size" in page
    # the tables too: the power row, the sweep's column and the type I error at each simulated n
    p = results.power
    from simulate.report.formatting import share_pm

    shown = html.escape(share_pm(p.power, p.mc_se, p.replicates), quote=False)
    assert f"<td>Type I error (power with no true effect) ± Monte Carlo SE</td><td>{shown}</td>" in page
    assert "Power ± MC SE" not in page and "Type I error ± MC SE" in page
    curve = page[page.index("Type I error at each n simulated (as samplesize.csv)"):]
    curve = curve[: curve.index("</table>")]
    for c in results.samplesize.curve:
        assert f"<td class=\"num\">{c.n_per_arm}</td>" in curve and f"{c.power:.3f} ± {c.mc_se:.3f}" in curve


def test_null_sample_size_section_is_the_type_i_error_without_power_targets(null_run):
    _, _, page = null_run
    assert "Sample size per arm" not in page
    section = page[page.index("Type I error by n per arm"):]
    section = section[: section.index("</section>")]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", section)
    assert "Target power" not in headers and "Type I error ± MC SE" in headers, headers
    assert not any(h.startswith(("Pooled normal", "Fleiss", "Arcsine")) for h in headers), headers
    assert "not reached" not in section and "80%" not in section
    assert "no power target to reach" in section


def test_sample_size_table_keeps_its_closed_forms_when_the_arms_differ(pilot_run):
    _, _, page = pilot_run
    table = page[page.index("Sample size per arm"):]
    table = table[: table.index("</table>")]
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert [h.lower() for h in headers].count("note") == 1 and "Pooled normal" in headers
    assert "closed-form columns are" in table


# ----------------------------------------------------------------------------- small pilot


def test_pilot_power_axis_contains_the_design_point_and_every_simulated_point(pilot_run):
    results, figures, _ = pilot_run
    p = results.power
    assert results.scenario.trial.n_per_arm == 7 and p.power < 0.2
    ax = figures["power_curve"].axes[0]
    bottom, top = ax.get_ylim()
    for v in (p.power, p.ci_low, p.ci_high, *(c.ci_low for c in results.samplesize.curve),
              *(c.ci_high for c in results.samplesize.curve)):
        assert bottom <= v <= top
    left, right = ax.get_xlim()
    assert left <= 7 <= right and all(left <= c.n_per_arm <= right for c in results.samplesize.curve)


def test_power_ylim_takes_in_points_below_the_search_and_the_planned_design():
    from simulate.run.results import SampleSizePoint

    fields = SampleSizePoint.__dataclass_fields__
    def point(n, power, low, high):
        values = dict(n_per_arm=n, power=power, mc_se=0.01, ci_low=low, ci_high=high)
        return SampleSizePoint(**{k: values.get(k, 0.0) for k in fields})

    curve = [point(10, 0.12, 0.08, 0.17), point(46, 0.53, 0.46, 0.60), point(100, 0.9, 0.86, 0.93)]
    bottom, top = power_plots.power_ylim(curve)
    assert bottom <= 0.08 and top == 1.0
    null_bottom, null_top = power_plots.power_ylim([point(31, 0.025, 0.011, 0.057)], alpha=0.05, null=True)
    assert null_bottom == 0.0 and 0.057 < null_top < 0.08


def test_a_power_curve_without_simulated_points_is_still_drawn():
    # every search starts above n_max (e.g. with 99% dropout): no n was simulated
    fig = power_plots.power_curve([], [], {0.8: None, 0.9: None}, planned_n=63)
    ax = fig.axes[0]
    assert not any(len(line.get_xdata()) for line in ax.get_lines() if line.get_color() == "C0")
    assert any("not reached" in t for t in legend_texts(ax))


# ----------------------------------------------------------------------------- not reached


def test_not_reached_names_the_n_its_search_evaluated_as_the_summary_does(observed_run):
    results, figures, page = observed_run
    texts = legend_texts(figures["power_curve"].axes[0])
    missed = [s for s in results.samplesize.searches if s.n_per_arm is None]
    assert missed
    for s in missed:
        largest = max(c.n_per_arm for c in s.curve)
        label = next(t for t in texts if t.startswith(f"{s.target:.0%} power not reached"))
        assert f"up to n = {largest} per arm" in label, label
        said = re.search(r"at n = (\d+) per arm", s.note)
        if said:  # the summary's number and the plot's agree
            assert int(said.group(1)) == largest
            assert s.note.replace("<", "&lt;")[:40] in page


# ----------------------------------------------------------------------------- swimmer


def _patients(n: int) -> list[PatientCourse]:
    nan = math.nan
    reasons = ("withdrew consent", "lost to follow-up", "")
    out = []
    for i in range(n):
        drop = 6.0 + i % 12 if i % 9 == 0 else nan
        out.append(PatientCourse(i, "a" if i % 2 else "b", 2.0 + i % 10, nan, drop,
                                 reasons[(i // 9) % 2] if not math.isnan(drop) else "",
                                 "missing" if not math.isnan(drop) else "complete"))
    return out


def test_swimmer_height_is_capped_and_dropout_reasons_have_distinct_markers():
    labels = {"a": "Arm A", "b": "Arm B"}
    fig = remission_plots.swimmer(_patients(126), labels, 24.0)
    assert fig.get_size_inches()[1] <= remission_plots.SWIMMER_MAX_HEIGHT
    small = remission_plots.swimmer(_patients(12), labels, 24.0)
    assert small.get_size_inches()[1] < remission_plots.SWIMMER_MAX_HEIGHT  # few patients: no padding to the cap
    ax = fig.axes[0]
    by_label = {c.get_label(): c for c in ax.collections if c.get_label().startswith("Dropout: ")}
    consent, lost = by_label["Dropout: withdrew consent"], by_label["Dropout: lost to follow-up"]
    markers = remission_plots.DROPOUT_MARKERS
    assert markers["withdrew consent"]["marker"] != markers["lost to follow-up"]["marker"]
    same_shape = np.allclose(consent.get_paths()[0].vertices.shape, lost.get_paths()[0].vertices.shape) and \
        np.allclose(consent.get_paths()[0].vertices, lost.get_paths()[0].vertices)
    assert not same_shape
    assert not np.allclose(mpl.colors.to_rgba_array(consent.get_facecolor())[0],
                           mpl.colors.to_rgba_array(lost.get_facecolor())[0])


# ----------------------------------------------------------------------------- time to remission


def _km(end_values: dict[str, float], n: int = 60):
    """Cumulative-remission steps per arm: a rise over the first months to ``end_values``."""
    from simulate.run.trial_results import KaplanMeierStep

    return {arm: (KaplanMeierStep(0.0, 0.0, n), *(KaplanMeierStep(float(m), end * m / 6, n - m) for m in range(1, 7)))
            for arm, end in end_values.items()}


def _end_labels(fig):
    """The end-of-curve labels (texts like '60%') with their boxes on the canvas."""
    fig.draw_without_rendering()
    ax = fig.axes[0]
    texts = [t for t in ax.texts if re.fullmatch(r"\d+%", t.get_text())]
    return texts, [t.get_window_extent() for t in texts]


@pytest.mark.parametrize("ends", [{"a": 0.60, "b": 0.60}, {"a": 0.60, "b": 0.605, "c": 0.61},
                                  {"a": 0.99, "b": 1.0}, {"a": 0.30, "b": 0.85}])
def test_end_labels_never_overlap_even_when_the_arms_end_together(ends):
    labels = {a: f"Arm {a.upper()}" for a in ends}
    fig = remission_plots.time_to_remission(_km(ends), labels, 24.0, assumed={a: 0.6 for a in ends},
                                  first_remission={a: 0.65 for a in ends})
    texts, boxes = _end_labels(fig)
    assert sorted(t.get_text() for t in texts) == sorted(f"{v:.0%}" for v in ends.values())
    height = max(b.height for b in boxes)
    centres = sorted((b.y0 + b.y1) / 2 for b in boxes)
    assert all(hi - lo >= height * 0.999 for lo, hi in zip(centres, centres[1:])), (centres, height)
    canvas = fig.bbox
    assert all(canvas.y0 <= b.y0 and b.y1 <= canvas.y1 and b.x1 <= canvas.x1 for b in boxes)
    if len(set(ends.values())) > 1 and min(abs(x - y) for x in ends.values() for y in ends.values() if x != y) > 0.2:
        # arms far apart: each label sits at its own curve's end
        ax = fig.axes[0]
        for t in texts:
            assert math.isclose(t.get_position()[1], float(t.get_text()[:-1]) / 100, abs_tol=0.01)


def test_coinciding_assumed_rates_are_drawn_side_by_side():
    ends = {"a": 0.6, "b": 0.6}
    fig = remission_plots.time_to_remission(_km(ends), {"a": "A", "b": "B"}, 24.0, assumed={"a": 0.6, "b": 0.6})
    fig.draw_without_rendering()
    diamonds = [line for line in fig.axes[0].lines if line.get_marker() == "D"]
    centres = [d.get_transform().transform((d.get_xdata()[0], d.get_ydata()[0])) for d in diamonds]
    size = max(d.get_markersize() for d in diamonds) * fig.dpi / 72  # pixels
    assert len(centres) == 2 and abs(centres[0][0] - centres[1][0]) >= size, (centres, size)
    assert centres[0][1] == pytest.approx(centres[1][1])  # still at the same (assumed) level


def test_dodge_keeps_order_and_spacing_and_moves_nothing_already_apart():
    assert remission_plots.dodge([0.1, 0.5, 0.9], 0.05) == [0.1, 0.5, 0.9]
    out = remission_plots.dodge([0.6, 0.6, 0.6], 0.04)
    assert out == pytest.approx([0.56, 0.60, 0.64])             # spread evenly around where they were
    out = remission_plots.dodge([0.99, 1.0], 0.04, low=0.02, high=0.98)
    assert out[1] - out[0] >= 0.04 - 1e-12 and out[1] <= 0.98 + 1e-12
    values = [0.30, 0.31, 0.7, 0.305]
    out = remission_plots.dodge(values, 0.03)
    order = sorted(range(4), key=values.__getitem__)
    assert [out[i] for i in order] == sorted(out)
    assert all(b - a >= 0.03 - 1e-12 for a, b in zip(sorted(out), sorted(out)[1:]))
    assert out[2] == 0.7


def test_null_time_to_remission_labels_and_caption(null_run):
    results, figures, page = null_run
    fig = figures["time_to_remission"]
    texts, boxes = _end_labels(fig)
    centres = sorted((b.y0 + b.y1) / 2 for b in boxes)
    assert len(texts) == 2 and centres[1] - centres[0] >= max(b.height for b in boxes) * 0.999
    model = results.remission_model
    ax = fig.axes[0]
    for a in model.arms:  # the model's first remission as a dashed line per arm, named in the legend
        assert any(np.allclose(line.get_ydata(), a.first_remission) for line in ax.get_lines())
        assert any(f"({a.first_remission:.0%})" in t for t in legend_texts(ax))


def test_time_to_remission_caption_gives_the_models_first_remission_and_why_the_endpoint_is_lower(observed_run):
    from simulate.report.words import percent

    results, _, page = observed_run
    caption = page[page.index('<figure id="time_to_remission">'):]
    caption = caption[caption.index("<figcaption>"): caption.index("</figcaption>")]
    for a in results.remission_model.arms:
        label = results.scenario.arm(a.arm).label
        assert f"{percent(a.first_remission)} on {label}" in caption
        assert f"{percent(1 - a.lasting)} on {label}" in caption and "relapse" in caption
        assert f"{percent(a.endpoint_rate)} on {label}" in caption
        assert a.first_remission > a.endpoint_rate  # the reason for the sentence
    assert "relapse hazard rises from month 9" in caption and "drop out" in caption


# ----------------------------------------------------------------------------- accrual


def _style(line) -> tuple:
    colour = tuple(np.round(mpl.colors.to_rgb(line.get_color()), 3))
    return colour, line.get_linestyle(), line.get_marker() if line.get_marker() not in (None, "None", "") else ""


def test_every_accrual_line_has_a_visible_legend_entry(observed_run):
    fig = observed_run[1]["accrual"]
    ax = fig.axes[0]
    legend = ax.get_legend()
    drawn = {_style(line) for line in ax.get_lines() if line.get_visible()}
    keyed = [h for h in legend.findobj(mpl.lines.Line2D) if h.get_visible()]
    assert drawn <= {_style(h) for h in keyed}, drawn - {_style(h) for h in keyed}
    for h in keyed:  # no faint swatch
        assert (h.get_alpha() or 1.0) >= 0.5
        assert h.get_linestyle() in ("None", "") or h.get_linewidth() >= 1.0
    texts = legend_texts(ax)
    assert any("dotted: its average pace" in t for t in texts) and any("whatever the count" in t for t in texts)


# ----------------------------------------------------------------------------- null summary


def test_null_summary_speaks_of_type_one_error_against_alpha_not_power_targets(null_run):
    results, _, page = null_run
    text = " ".join(results.summary)
    assert not re.search(r"\b(80|90)% power", text), text
    curve = results.samplesize.curve
    line = next(s for s in results.summary if s.startswith("H0 holds here"))
    assert f"between {min(c.power for c in curve):.3f} and {max(c.power for c in curve):.3f}" in line
    assert f"alpha {results.scenario.analysis.alpha:g}" in line and "Monte Carlo SE" in line
    verdict = page[page.index('id="verdict"'): page.index("</section>", page.index('id="verdict"'))]
    assert "type I error" in verdict and not re.search(r"\b(80|90)% (power|target)", verdict)


def test_null_heatmap_names_the_swept_tests_in_words_and_keeps_the_planned_cell(null_run):
    from simulate.report import words

    results, figures, _ = null_run
    assert "analysis.test" in results.sweep.axes
    fig = figures["power_heatmap"]
    ticks = {t.get_text() for ax in fig.axes[:-1] for t in ax.get_xticklabels() + ax.get_yticklabels()}
    swept = {p.values["analysis.test"] for p in results.sweep.points}
    assert {words.TEST_SHORT[t] for t in swept} <= ticks and not swept & ticks, ticks
    red = [p for ax in fig.axes for p in ax.patches if mpl.colors.same_color(p.get_edgecolor(), "#E41A1C")]
    assert len(red) == 1  # the planned design (Fisher's test at n = 63) is still found and outlined


def test_dodge_spaces_any_labels_and_keeps_their_order():
    from hypothesis import given, settings, strategies as st

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=8), st.floats(0.005, 0.1))
    def check(values, gap):
        out = remission_plots.dodge(values, gap, low=gap / 2, high=1 - gap / 2)
        order = sorted(range(len(values)), key=values.__getitem__)
        placed = [out[i] for i in order]
        assert all(b - a >= gap * (1 - 1e-9) for a, b in zip(placed, placed[1:]))
        if len(values) * gap <= 1 - gap:  # room for all: every label inside the range
            assert all(gap / 2 - 1e-9 <= y <= 1 - gap / 2 + 1e-9 for y in out), (values, gap, out)

    check()
