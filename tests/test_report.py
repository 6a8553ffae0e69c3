"""The report: every figure is written as a real PNG, and report.html is one self-contained page
with the summary, every figure embedded, the tables, the assumptions with their sources and the
command that reproduces the run.

One small real run (100 replicates, a 2 x 2 x 2 sweep) is shared by the module's tests.
"""

from __future__ import annotations

import base64
import re
import struct
from dataclasses import replace
from markupsafe import escape
from pathlib import Path

import pytest

from simulate.design.loader import load_scenario, with_overrides
from simulate.run.main_job import run_all
from simulate.report import html, power_plots
from simulate.report.page import FIGURES, write_report
from simulate.design.sources import scenario_comments

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "nct04743739.toml"
OBSERVED = ROOT / "scenarios" / "nct04743739_observed_accrual.toml"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SMALL_SWEEP = """[sweep]
"dropout.probability_by_endpoint" = [0.0, 0.2]
"arms.rtx_csa.remission_at_endpoint" = [0.80, 0.85]
"trial.n_per_arm" = [40, 63]
"""
REPLICATES = 100
SEED = 20210414
OVERRIDES = ("simulation.block_size=100",)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """(scenario, scenario file, results, output folder, figures) of one small real run."""
    folder = tmp_path_factory.mktemp("report")
    text = DEFAULT.read_text(encoding="utf-8")
    path = folder / "small.toml"
    path.write_text(text[: text.index("[sweep]")] + SMALL_SWEEP, encoding="utf-8")
    scenario = load_scenario(path, OVERRIDES)
    out = folder / "out"
    results = run_all(scenario, out, seed=SEED, replicates=REPLICATES, jobs=1, report=False, scenario_path=path,
                      overrides=OVERRIDES)
    figures = write_report(out, results)
    return scenario, path, results, out, figures


@pytest.fixture(scope="module")
def page(small_run) -> str:
    return (small_run[3] / "report.html").read_text(encoding="utf-8")


def png_size(data: bytes) -> tuple[int, int]:
    return struct.unpack(">II", data[16:24])


def test_every_figure_is_written_as_a_png(small_run):
    *_, out, figures = small_run
    assert list(figures) == [*FIGURES, "oc_curve", "missing_data_methods"]     # the grid varies the dropout
    for name, file_name in figures.items():
        data = (out / file_name).read_bytes()
        assert file_name == f"{name}.png"
        assert data.startswith(PNG_SIGNATURE), name
        assert len(data) > 20_000, f"{name}: only {len(data)} bytes"
        width, height = png_size(data)
        assert width >= 600 and height >= 350, f"{name}: {width} x {height} px"
    assert not list(out.glob(".*.tmp")), "temporary files left behind"


def test_figures_compressed_on_a_second_thread_are_the_same_png(small_run):
    """The report compresses each figure while the next is drawn: the bytes of the PNG are
    those that drawing and compressing it at once gives."""
    from concurrent.futures import ThreadPoolExecutor

    from simulate.report.drawing import build_figures, close_figure, figure_png, figure_png_later

    results = small_run[2]
    now, later = build_figures(results)["consort"], build_figures(results)["consort"]
    with ThreadPoolExecutor(1) as encoder:
        png = figure_png_later(later, encoder).result()
    assert png == figure_png(now)
    close_figure(now)
    close_figure(later)


def test_no_figure_is_left_open(small_run):
    import matplotlib.pyplot as plt

    assert plt.get_fignums() == []


def test_report_opens_with_the_title_and_plain_language_summary(small_run, page):
    scenario, _, results, *_ = small_run
    assert results.summary
    for sentence in results.summary:
        assert escape(sentence) in page
    first_figure = page.index("<figure")
    assert page.index(escape(scenario.description)) < page.index(escape(results.summary[0])) < first_figure


def test_report_embeds_every_figure_as_a_data_uri(small_run, page):
    *_, out, figures = small_run
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(figures)
    assert {base64.b64decode(e) for e in embedded} == {(out / f).read_bytes() for f in figures.values()}
    for name in figures:
        assert f'<figure id="{name}">' in page
    assert page.count("<figcaption>") == len(figures)


def test_report_is_self_contained(page):
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.IGNORECASE)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", page, re.IGNORECASE)
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()


def test_report_sections_come_in_order(page):
    marks = ["<figure", "Power and operating characteristics", "Remission (CR or PR) over follow-up",
             "Sample size per arm", "Sensitivity grid", "CONSORT counts", "The example trial",
             "Assumptions and their sources", "How to reproduce"]
    positions = [page.index(m) for m in marks]
    assert positions == sorted(positions)


def test_tables_show_the_run_results(small_run, page):
    _, _, results, *_ = small_run
    p = results.power
    assert f"{p.power:.3f} ± {p.mc_se:.3f}" in page
    for search in results.samplesize.searches:
        if search.n_per_arm is not None:
            assert f'<td class="num">{search.n_per_arm}</td>' in page
    sweep_rows = re.findall(r"<td class=\"num(?: good)?\">\d\.\d{3} ± \d\.\d{3}</td>", page)
    assert len(sweep_rows) >= len(results.sweep.points)
    assert f"<td>Randomised</td><td class=\"num\">{results.example_trial.consort.randomised}</td>" in page


def test_remission_by_visit_is_written_and_shown_as_computed(small_run, page):
    import pandas as pd

    scenario, _, results, out, _ = small_run
    p = results.power
    table = pd.read_csv(out / "remission_by_visit.csv")
    assert list(table.columns) == ["arm", "month", "remission", "mc_se"]
    assert len(table) == len(scenario.arm_names) * len(scenario.trial.visit_months) == len(p.remission_by_visit)
    for row, v in zip(table.itertuples(), p.remission_by_visit):
        assert (row.arm, row.month, row.remission, row.mc_se) == (v.arm, v.month, v.remission, v.mc_se)
        assert f"{v.remission:.3f} ± {v.mc_se:.3f}" in page
    comparisons = pd.read_csv(out / "comparisons.csv")
    assert list(comparisons.arm) == ["rtx_csa"] and comparisons.power[0] == p.power
    assert "Comparisons with" not in page       # two arms: the main table says it all
    assert '<figure id="remission_by_visit">' in page


def test_example_trial_is_told_per_arm(small_run, page):
    scenario, _, results, *_ = small_run
    ex = results.example_trial
    story = page[page.index("<h3>The example trial</h3>"):]
    story = story[: story.index("<h3>", 4)]
    assert f"{ex.consort.randomised:,} of {scenario.n_target:,} patients were randomised" in story
    for arm in scenario.arm_names:
        share = ex.remission_at_endpoint[arm]
        assert (f"<td>{escape(scenario.arm(arm).label)}{' (control)' if arm == scenario.control_arm else ''}</td>"
                f"<td class=\"num\">{ex.consort.randomised_per_arm[arm]}</td>") in story
        assert f"<td class=\"num\">{share:.2f}</td>" in story


def test_assumptions_show_values_sources_and_flags(page):
    start = page.index("Assumptions and their sources")
    section = page[start: page.index("How to reproduce")]
    assert "registry: planned enrolment 126" in section
    row = re.search(r"<tr[^>]*><td>dropout\.probability_by_endpoint</td>.*?</tr>", section).group(0)
    assert 'class="assumption"' in row and "0.1" in row and "no published figure" in row
    row = re.search(r"<tr[^>]*><td>analysis\.test</td>.*?</tr>", section).group(0)
    assert "assumption" not in row and "Fisher&#39;s exact test" in row
    for sec in ("trial.", "arms.rtx.", "arms.rtx_csa.", "outcome.", "dropout.", "analysis.", "recruitment."):
        assert f"<td>{sec}" in section


def test_reproduce_gives_the_exact_command_seed_and_versions(small_run, page):
    import numpy as np

    import simulate

    _, path, *_ = small_run
    section = page[page.index("How to reproduce"):]
    command = (f"trialsim run {path} --seed {SEED} --replicates {REPLICATES} "
               "--set simulation.block_size=100")
    assert escape(command) in section
    assert "make run" in section
    assert f"<td>{SEED}</td>" in section
    assert f"<td>{simulate.__version__}</td>" in section and f"<td>{np.__version__}</td>" in section


def test_no_sweep_means_no_heatmap_and_no_file_of_others_is_touched(small_run, tmp_path):
    results = small_run[2]
    (tmp_path / "power_heatmap.png").write_bytes(b"someone else's")
    figures = write_report(tmp_path, replace(results, sweep=None))
    assert "power_heatmap" not in figures and len(figures) == len(FIGURES)     # less the heatmap, with the OC curve
    assert (tmp_path / "power_heatmap.png").read_bytes() == b"someone else's"   # not the report's to delete
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(figures)
    assert "Sensitivity grid" not in page


def test_sweep_figure_adapts_to_the_grid(small_run):
    rows = small_run[2].sweep.to_frame().to_dict(orient="records")
    one = [r for r in rows if r["trial.n_per_arm"] == 63 and r["arms.rtx_csa.remission_at_endpoint"] == 0.85]
    line = power_plots.power_heatmap(one, ["dropout.probability_by_endpoint"], {})
    assert len(line.axes) == 1 and line.axes[0].get_lines()
    assert power_plots.power_heatmap([], [], {}) is None
    axes = list(small_run[2].sweep.axes)
    panels = lambda fig: [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]  # noqa: E731
    assert len(panels(power_plots.power_heatmap(rows, axes, {}))) == 2  # one per n per arm
    two = [r for r in rows if r["trial.n_per_arm"] == 63]
    assert len(panels(power_plots.power_heatmap(two, axes[:2], {}))) == 1
    four = [{**r, "outcome.relapse": v} for r in rows for v in (True, False)]
    assert len(panels(power_plots.power_heatmap(four, axes + ["outcome.relapse"], {}))) == 4  # n x relapse
    five = [{**r, "analysis.alpha": v} for r in four for v in (0.05, 0.025)]
    fig = power_plots.power_heatmap(five, axes + ["outcome.relapse", "analysis.alpha"], {})
    assert len(panels(fig)) == 4 and "averaged over analysis.alpha" in fig.get_suptitle()


def test_text_is_escaped(small_run):
    scenario, _, results, *_ = small_run
    nasty = with_overrides(scenario, {"description": "<script>alert(1)</script> & co"})
    page = html.render(replace(results, scenario=nasty, summary=("a < b & c",)), {})
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "a &lt; b &amp; c" in page


def test_scenario_comments_follow_base_and_comment_blocks():
    _, comments = scenario_comments(OBSERVED)
    assert comments["trial.n_per_arm"].startswith("registry: planned enrolment 126")  # from the base file
    assert "0.068 randomised per site-month" in comments["recruitment.rate_per_site_month"]  # block above the key
    header, comments = scenario_comments(DEFAULT)
    assert header.startswith("NCT04743739 as registered")
    assert comments["arms.rtx.label"] == ""
    assert "[assumption" in comments["dropout.mechanism"]


def test_the_verdict_card_states_the_conclusion(small_run, page):
    from simulate.report.verdict import verdict

    results = small_run[2]
    v = verdict(results)
    p = results.power
    assert v.kind in ("powered", "under_powered", "recruitment_limited")
    assert f"{100 * p.power:.0f}%" in v.headline and f"{p.n_per_arm} per arm" in v.headline
    low = min(results.samplesize.searches, key=lambda s: s.target)
    if p.power < low.target and low.n_per_arm is not None:
        assert any(f"needs {low.n_per_arm} per arm" in line for line in v.lines)
    real = [line for line in v.lines if line.startswith("The real trial")]
    assert len(real) == 1 and "12 patients in 44 months" in real[0] and "12 of 126" in real[0], real
    # a scenario that inherits the real trial's accrual but plans another size does not call 126 its own
    pilot = replace(results, scenario=load_scenario(ROOT / "scenarios" / "teaching_small_pilot.toml"))
    assert pilot.scenario.n_target != 126
    assert not any(f"of its {pilot.scenario.n_target} planned" in line for line in verdict(pilot).lines)
    assert page.index('class="verdict') < page.index(escape(results.summary[0]))
    null = replace(results, power=replace(p, power=0.049, mc_se=0.005,
                                          comparisons=tuple(replace(c, true_difference=0.0) for c in p.comparisons)))
    assert verdict(null).kind == "null" and "type I error" in verdict(null).headline


def test_the_page_has_landmarks_contents_and_accessible_tables(small_run, page):
    results = small_run[2]
    assert page.count("<main") == 1 and '<nav class="toc"' in page
    assert '<h2 id="summary-title">In plain language</h2><ul>' in page
    assert "<th>" not in page and page.count('<th scope="col">') > 20
    assert page.count("<table>") == page.count("<caption>")
    assert results.created and results.created in page and results.code_hash in page
    for name in ("power_curve", "accrual", "consort"):
        alt = re.search(rf'<figure id="{name}"><div class="zoom" id="{name}-full"><img src="[^"]+" alt="([^"]+)"',
                        page).group(1)
        assert len(alt) > 60 and any(ch.isdigit() for ch in alt), alt
    assert "@media (max-width:600px)" in page and "@media print" in page and "break-inside:avoid" in page


def test_the_winners_curse_of_a_harm_compares_sizes_not_signed_differences(small_run):
    from simulate.report.sentences.common import winners_curse

    results = small_run[2]
    p = results.power
    first = replace(p.comparisons[0], true_difference=-0.17, mean_abs_risk_difference_if_significant=0.27,
                    exaggeration_ratio=0.27 / 0.17)
    harm = replace(p, comparisons=(first,))
    (line,) = winners_curse(results.scenario, harm, null=False, many=False)
    assert "a difference of 0.27 in size on average, 1.6 times the size of the true -0.17" in line, line
    benefit = replace(p, comparisons=(replace(first, true_difference=0.17),))
    (line,) = winners_curse(results.scenario, benefit, null=False, many=False)
    assert "a difference of 0.27 on average, 1.6 times the true 0.17" in line, line


def test_the_page_is_titled_by_the_scenario_description_not_its_slug(small_run, page) -> None:
    scenario = small_run[0]
    import html as html_lib

    heading = re.search(r"<h1>(.*?)</h1>", page).group(1)
    changed = ' <span class="changed">(changed for this run)</span>'
    assert heading.endswith(changed) == bool(small_run[2].overrides)
    assert html_lib.unescape(heading.removesuffix(changed)) == scenario.description != scenario.name
    assert f"<code>{scenario.name}</code>" in page


def test_the_verdict_separates_what_costs_power_from_what_risks_recruitment(small_run, page):
    """Short of power and slow to recruit are two problems: the card does not blame recruitment
    for the power, it names dropout's cost by the closed form, and the power table says what the
    estimate targets once dropouts count as failures."""
    from simulate.design.assumed import dropout_adjustment
    from simulate.report.verdict import verdict

    scenario, results = small_run[0], small_run[2]
    p = results.power
    low = min(results.samplesize.searches, key=lambda s: s.target)
    slow = replace(results, power=replace(p, power=min(p.power, low.target - 0.05), p_recruitment_on_time=0.2))
    v = verdict(slow)
    assert v.kind == "recruitment_limited"
    assert not any(line.startswith("Recruitment is the limit") for line in v.lines)
    second = [i for i, line in enumerate(v.lines) if line.startswith("Recruitment is a second, separate risk")]
    assert len(second) == 1 and "only 20% of simulated trials recruit" in v.lines[second[0]]
    a = low.analytic
    assert a.fleiss_cc_with_dropout > a.fleiss_cc        # the registered design loses 10% as failures
    dropout = [line for line in v.lines if line.startswith("Dropout costs power")]
    assert len(dropout) == 1 and f"{a.fleiss_cc} per arm with no dropout and {a.fleiss_cc_with_dropout} per arm" in dropout[0]
    assert v.lines.index(dropout[0]) < second[0]              # why it is short first, then the other risk
    powered = replace(results, power=replace(p, power=max(p.power, low.target + 0.05), p_recruitment_on_time=0.2))
    assert verdict(powered).lines[0].startswith("Recruitment is the limit")
    adj = dropout_adjustment(scenario)
    assert (f"Risk difference the estimate targets (dropouts counted as failures)</td><td>"
            f"{adj.p_treat - adj.p_control:.3f}</td>") in page
    assert f"so the estimate targets {adj.p_treat - adj.p_control:.3f}" in page
