"""The report's section "Estimand and missing data": the five attributes in words, each
comparison's true value beside the planned analysis's estimate (as comparisons.csv and
power.csv), each analysis of the missing endpoints against the truth where the grid varies them
(as sweep.csv, with a dot plot), and the tipping point (tipping_point.csv, the heatmap, the
sentence naming where power tips).

One small real run of teaching_estimands (MAR dropout analysed five ways, a tipping grid) and one
of the registered trial (no intercurrent event, MCAR) are shared by the module's tests.
"""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from simulate.design.loader import load_scenario
from simulate.report import estimand_section
from simulate.report.page import FIGURES, write_report
from simulate.report.words import MISSING_WORDS, intercurrent_words
from simulate.run.main_job import run_all, run_files

from conftest import PLAIN_SCENARIO

ROOT = Path(__file__).resolve().parents[1]
ESTIMANDS = ROOT / "scenarios" / "teaching_estimands.toml"
REGISTERED = PLAIN_SCENARIO   # the registered design without its intercurrent events: the brief section
REPLICATES = 60
OVERRIDES = ("simulation.block_size=30",)
PNG = b"\x89PNG\r\n\x1a\n"


def _run(path: Path, folder: Path):
    scenario = load_scenario(path, OVERRIDES)
    results = run_all(scenario, folder, replicates=REPLICATES, jobs=1, scenario_path=path, overrides=OVERRIDES)
    return results, folder


@pytest.fixture(scope="module")
def estimands(tmp_path_factory):
    """(results, folder) of teaching_estimands, run small."""
    return _run(ESTIMANDS, tmp_path_factory.mktemp("estimands") / "out")


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """(results, folder) of the registered design without intercurrent events, run small."""
    return _run(REGISTERED, tmp_path_factory.mktemp("registered") / "out")


def section_of(folder: Path) -> str:
    """The section's HTML, from its heading to the tables section."""
    page = (folder / "report.html").read_text(encoding="utf-8")
    return page[page.index('<h2 id="estimand">Estimand and missing data</h2>'): page.index('<section id="tables">')]


def text_of(fragment: str) -> str:
    """The words of an HTML fragment, tags dropped and entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", fragment)))


def cells(fragment: str) -> list[list[str]]:
    """Each table row's cells (header cells too), as text."""
    return [[html.unescape(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", fragment)]


def pm(value: float, se: float) -> str:
    return f"{value:.3f} ± {se:.3f}"


# ----------------------------------------------------------------------------- teaching_estimands


def test_the_section_comes_after_the_figures_and_before_the_tables_and_is_in_the_contents(estimands):
    _, out = estimands
    page = (out / "report.html").read_text(encoding="utf-8")
    assert '<a href="#estimand">Estimand and missing data</a>' in page
    assert page.index('<section id="figures">') < page.index('id="estimand-section"') < page.index('id="tables"')


def test_the_five_attributes_are_in_words(estimands):
    results, out = estimands
    scenario, record = results.scenario, results.power.estimand
    rows = {r[0]: r[1] for r in cells(section_of(out)) if len(r) == 2}
    assert rows["Treatments"] == "RTX alone (control) and RTX + CsA (experimental)"
    assert rows["Population"] == record["population"] == "all randomised patients (intention to treat)"
    assert rows["Variable"].startswith(record["variable"]) and "month 24" in rows["Variable"]
    assert rows["Intercurrent events"].startswith("none modelled")
    assert rows["Summary measure"].startswith("risk difference (experimental − control)")
    assert scenario.dropout.mechanism == "mar"


def test_the_truth_is_beside_the_planned_estimate_as_the_csv_files_give_them(estimands):
    results, out = estimands
    p = results.power
    c = p.comparisons[0]
    truth = p.estimand["true_values"][0]
    table = pd.read_csv(out / "comparisons.csv").iloc[0]
    power = pd.read_csv(out / "power.csv").iloc[0]
    assert table.true_difference == c.true_difference == truth["true_difference"] == power.true_difference
    assert table.true_difference_mc_se == c.true_difference_mc_se == power.true_difference_mc_se == 0.0
    assert (table.true_control, table.true_treatment) == (truth["true_control"], truth["true_treatment"]) == (0.6, 0.85)
    row = next(r for r in cells(section_of(out)) if r and r[0] == "RTX + CsA vs RTX alone")
    assert row == ["RTX + CsA vs RTX alone", pm(table.true_difference, table.true_difference_mc_se), "0.600 / 0.850",
                   pm(table.mean_risk_difference, table.risk_difference_bias_se),
                   pm(table.mean_risk_difference - table.true_difference, table.risk_difference_bias_se),
                   pm(table.ci_coverage, table.ci_coverage_se)]


def test_each_analysis_of_the_missing_endpoints_is_shown_against_the_truth_as_sweep_csv(estimands):
    results, out = estimands
    section = section_of(out)
    sweep = pd.read_csv(out / "sweep.csv")
    assert list(sweep["analysis.missing"]) == ["nonresponder", "complete_case", "locf", "mi_mar", "mi_j2r"]
    assert {"true_difference_mc_se", "ci_coverage_se"} <= set(sweep.columns)
    rows = {r[0].removesuffix(" (planned)"): r for r in cells(section) if r and r[0] in
            {*MISSING_WORDS.values(), MISSING_WORDS["mi_mar"] + " (planned)"}}
    assert len(rows) == 5
    for x in sweep.to_dict(orient="records"):
        row = rows[MISSING_WORDS[x["analysis.missing"]]]
        assert row[1:] == [pm(x["true_difference"], x["true_difference_mc_se"]),
                           pm(x["mean_risk_difference"], x["risk_difference_bias_se"]),
                           pm(x["risk_difference_bias"], x["risk_difference_bias_se"]),
                           pm(x["ci_coverage"], x["ci_coverage_se"]), pm(x["power"], x["mc_se"])]
        assert x["true_difference"] == results.power.true_difference
    assert rows[MISSING_WORDS["mi_mar"]][0].endswith("(planned)")
    planned = sweep[sweep["analysis.missing"] == "mi_mar"].iloc[0]
    assert planned.power == results.power.power and planned.mean_risk_difference == results.power.mean_risk_difference
    words = text_of(section)
    assert "dropout here is missing at random (MAR)" in words and "leave 4 times as often" in words
    assert "complete cases, which over-represent responders, are biased" in words
    # the dot plot's rows are the table's
    assert [r["label"] for r in estimand_section.methods_rows(results)] == [
        "Non-responder", "Complete case", "LOCF", "MI under MAR (planned)", "MI, jump to reference"]


def test_the_tipping_point_csv_table_and_heatmap_agree_with_the_power_result(estimands):
    results, out = estimands
    grid = results.power.tipping_point
    deltas = results.scenario.analysis.tipping_point_deltas
    assert len(grid) == len(deltas) ** 2
    table = pd.read_csv(out / "tipping_point.csv")
    assert list(table.columns) == ["arm", "arm_label", "control", "control_label", "delta_control",
                                   "delta_experimental", "power", "mc_se", "mean_estimate", "mean_estimate_mc_se"]
    assert (table.arm_label == "RTX + CsA").all() and (table.control_label == "RTX alone").all()
    for row, expected in zip(table.to_dict(orient="records"), grid, strict=True):
        for k, v in expected.items():
            assert row[k] == v or (isinstance(v, float) and math.isclose(row[k], v, rel_tol=1e-12)), k
    unshifted = next(r for r in grid if r["delta_control"] == 0 and r["delta_experimental"] == 0)
    assert unshifted["power"] == results.power.power
    section = section_of(out)
    tipping = section[section.index("<h3>Tipping point</h3>"):]
    rows = cells(tipping)
    assert rows[0][1:] == [f"{d:g}" for d in sorted(deltas)]
    for r in rows[1:]:
        for e, cell in zip(sorted(deltas), r[1:]):
            x = next(g for g in grid if g["delta_control"] == float(r[0]) and g["delta_experimental"] == e)
            assert cell == pm(x["power"], x["mc_se"])
    # the sentence: the smallest experimental shift (control at 0) below the target, or 50%
    words = text_of(tipping)
    line = {g["delta_experimental"]: g for g in grid if g["delta_control"] == 0}
    shifts = sorted((d for d in line if d != 0), key=abs)
    first = lambda level: next((d for d in shifts if line[d]["power"] < level), None)  # noqa: E731
    assert f"Unshifted, power is {pm(unshifted['power'], unshifted['mc_se'])}" in words
    if unshifted["power"] < 0.8:
        assert "already below the design's 80% target power" in words
    else:
        d = first(0.8)
        assert (f"falls below the design's 80% target power at an experimental shift of {d:g}" in words
                if d is not None else "takes it below the design's 80% target power" in words)
    d50 = first(0.5)
    if unshifted["power"] >= 0.5 and d50 is not None:
        assert f"below 50% at {'an experimental shift of ' if unshifted['power'] < 0.8 else ''}{d50:g}" in words
    assert '<figure id="tipping_point">' in tipping


def test_the_figures_are_written_embedded_in_the_section_and_listed(estimands):
    results, out = estimands
    section = section_of(out)
    for name in ("missing_data_methods", "tipping_point"):
        data = (out / f"{name}.png").read_bytes()
        assert data.startswith(PNG) and len(data) > 20_000, name
        assert f'<figure id="{name}">' in section
        alt = re.search(rf'<figure id="{name}"><div class="zoom" id="{name}-full"><img src="[^"]+" alt="([^"]+)"',
                        section).group(1)
        assert len(alt) > 60 and any(ch.isdigit() for ch in alt), alt
    figures = json.loads((out / "run.json").read_text())["figures"]
    assert list(figures) == [*FIGURES, "oc_curve", "missing_data_methods", "tipping_point"]
    manifest = json.loads((out / "manifest.json").read_text())["files"]
    assert {"missing_data_methods.png", "tipping_point.png", "tipping_point.csv"} <= set(manifest)
    assert {"missing_data_methods.png", "tipping_point.png", "tipping_point.csv"} <= run_files(results.scenario)
    page = (out / "report.html").read_text(encoding="utf-8")
    figures_section = page[page.index('<section id="figures">'): page.index('id="estimand-section"')]
    assert "missing_data_methods" not in figures_section and 'id="tipping_point"' not in figures_section


def test_the_tipping_sentence_names_the_target_or_50_percent_or_none(estimands, tmp_path):
    results, _ = estimands

    def grid(powers: dict[float, float]) -> tuple[dict, ...]:
        return tuple({"arm": "rtx_csa", "delta_control": c, "delta_experimental": e, "power": v - 0.01 * abs(c),
                      "mc_se": 0.01, "mean_estimate": 0.2, "mean_estimate_mc_se": 0.01}
                     for c in (0.0, -1.0) for e, v in powers.items())

    def sentence(powers):
        r = replace(results, power=replace(results.power, power=powers[0.0], tipping_point=grid(powers)))
        return " ".join(estimand_section.tipping_sentences(r))

    s = sentence({0.0: 0.9, -1.0: 0.85, -2.0: 0.7, -3.0: 0.4})
    assert "Unshifted, power is 0.900 ± 0.010" in s
    assert "falls below the design's 80% target power at an experimental shift of -2 (power 0.700 ± 0.010)" in s
    assert "and below 50% at -3 (power 0.400 ± 0.010)" in s
    s = sentence({0.0: 0.9, -1.0: 0.88})
    assert "no experimental shift in the grid (from -1 to 0) takes it below the design's 80% target power" in s
    s = sentence({0.0: 0.7, -1.0: 0.6, -2.0: 0.45})
    assert "already below the design's 80% target power" in s and "below 50% at an experimental shift of -2" in s


# ----------------------------------------------------------------------------- the registered trial


def test_without_intercurrent_events_the_section_is_brief_and_correct(registered):
    results, out = registered
    section = section_of(out)
    words = text_of(section)
    p = results.power
    assert p.estimand["intercurrent_events"] == [] and not p.tipping_point
    assert "No intercurrent event is modelled here" in words
    assert "dropout here is missing completely at random (MCAR)" in words
    assert "complete cases are unbiased" in words
    assert "The planned analysis is non-responder analysis (dropouts as failures)" in words
    assert "Tipping point" not in section and not (out / "tipping_point.csv").exists()
    assert not (out / "tipping_point.png").exists()
    row = next(r for r in cells(section) if r and r[0] == "RTX + CsA vs RTX alone")
    assert row[1:3] == ["0.250 ± 0.000", "0.600 / 0.850"]
    assert row[3] == pm(p.mean_risk_difference, p.risk_difference_bias_se)
    assert row[4] == pm(p.risk_difference_bias, p.risk_difference_bias_se)
    assert row[5] == pm(p.ci_coverage, p.ci_coverage_se)
    # the grid varies the dropout: its points at the planned n and rates, against the truth
    sweep = pd.read_csv(out / "sweep.csv")
    at_plan = sweep[(sweep["trial.n_per_arm"] == 63) & (sweep["arms.rtx_csa.remission_at_endpoint"] == 0.85)]
    rows = [r for r in cells(section) if r and r[0].removesuffix(" (planned)") in {"0", "0.1", "0.2", "0.3"}]
    assert [r[0] for r in rows] == ["0", "0.1 (planned)", "0.2", "0.3"]
    for r, x in zip(rows, at_plan.itertuples(), strict=True):
        assert r[2] == pm(x.mean_risk_difference, x.risk_difference_bias_se)
    assert "The estimate against the truth as dropout changes" in section


def test_without_a_grid_the_section_is_the_attributes_the_truth_and_the_dropout(registered, tmp_path):
    results, _ = registered
    plain = replace(results, sweep=None)
    figures = write_report(tmp_path, plain)
    assert list(figures) == [*(f for f in FIGURES if f != "power_heatmap"), "oc_curve"]
    section = section_of(tmp_path)
    assert section.count("<table>") == 2 and "<figure" not in section and section.count("<h3>") == 1
    assert estimand_section._estimand(plain, {})["brief"]


# ----------------------------------------------------------------------------- intercurrent events

EVENTS = """base = "nct04743739"
replace = ["intercurrent", "estimand"]
name = "ice_words"
[sweep]
[intercurrent.csa_toxicity]
kind = "discontinuation"
reason = "cyclosporine toxicity"
probability = { rtx_csa = 0.1 }
by_month = 9
[intercurrent.rescue]
kind = "rescue"
at_month = 6
probability = 0.5
[intercurrent.kfd]
kind = "kidney_failure_or_death"
probability = 0.02
[estimand]
strategies = { rescue = "hypothetical" }
"""


def test_intercurrent_events_and_their_strategies_in_words(tmp_path):
    path = tmp_path / "ice.toml"
    path.write_text(EVENTS, encoding="utf-8")
    scenario = load_scenario(path)
    record = [{"id": n, "kind": ev.kind, "reason": ev.reason, "strategy": st,
               "probability": {a: ev.probability_of(a) for a in scenario.arm_names}}
              for (n, ev), st in zip(scenario.intercurrent.items(), scenario.strategies.values())]
    assert [intercurrent_words(scenario, e) for e in record] == [
        "cyclosporine toxicity (treatment discontinuation, probability 10% in RTX + CsA by month 9): treatment "
        "policy — the outcome counts whatever was taken after",
        "rescue (rescue therapy, at the month-6 visit to the patients not in remission then, probability 50% in "
        "every arm): hypothetical — the outcome had the event not happened: data after it are set missing and the "
        "missing-data method answers for them",
        "kfd (kidney failure or death, probability 2.0% in every arm by month 24): composite — the event counts as "
        "no remission",
    ]


def test_a_scenario_with_intercurrent_events_shows_them_and_the_truths_monte_carlo_se(tmp_path):
    path = tmp_path / "ice.toml"
    path.write_text(EVENTS, encoding="utf-8")
    results, out = _run(path, tmp_path / "out")
    section = section_of(out)
    rows = {r[0]: r[1] for r in cells(section) if len(r) == 2}
    events = [k for k in rows if k.startswith("Intercurrent event")]
    assert events == [f"Intercurrent event {i} of 3" for i in (1, 2, 3)]
    assert rows["Intercurrent event 1 of 3"].startswith("cyclosporine toxicity (treatment discontinuation")
    c = results.power.comparisons[0]
    assert c.true_difference_mc_se > 0 and c.true_difference != 0.25
    row = next(r for r in cells(section) if r and r[0] == "RTX + CsA vs RTX alone")
    shown = (f"{c.true_difference:.4f} ± {c.true_difference_mc_se:.4f}" if c.true_difference_mc_se < 0.0005
             else pm(c.true_difference, c.true_difference_mc_se))
    assert row[1] == shown
    assert "large reference sample" in text_of(section)
    assert not estimand_section._estimand(results, {})["brief"]


def test_the_summary_says_what_the_registered_trial_estimates() -> None:
    """The registered scenario's intercurrent events: the plain-language summary names each
    strategy and gives the true difference beside the assumed rates' (without the events)."""
    from simulate.design.loader import load_scenario
    from simulate.report.sentences.summary import estimand_sentence, plain_summary
    from simulate.run.power import estimate_power
    from simulate.run.results import SampleSizePlan

    s = load_scenario("nct04743739", ["simulation.block_size=20"])
    p = estimate_power(s, 20, 1, 1)
    truth = p.estimand["true_values"][0]
    line = estimand_sentence(s, p)
    assert line in plain_summary(s, p, SampleSizePlan((), (), ()))
    assert ("counts rescue therapy for no remission at month 12 and kidney failure or death as no remission "
            "(composite)") in line
    assert "treatment discontinuation for cyclosporine toxicity (treatment policy)" in line
    assert f"{truth['true_difference']:+.3f} ± {truth['true_difference_mc_se']:.3f}" in line
    assert "differ by +0.250" in line
    plain = load_scenario(PLAIN_SCENARIO, ["simulation.block_size=20"])
    assert not any(x.startswith("The estimand") for x in plain_summary(plain, estimate_power(plain, 20, 1, 1),
                                                                        SampleSizePlan((), (), ())))
