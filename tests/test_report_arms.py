"""`trialsim run` follows the design's arms: three arms with Holm's adjustment, a non-inferiority
design, a complete-remission endpoint with published remission figures, and an [observed] block
without accrual. Each run ends with exit code 0 and a report whose every number is one of the
run's CSVs (or the `power --json` answer), per arm and per comparison.

Runs are small (60 replicates in blocks of 30, one job, small sweeps) and shared by the tests.
"""

from __future__ import annotations

import json
import re
from markupsafe import escape
from pathlib import Path

import pandas as pd
import pytest

from simulate.design import choices
from simulate.cli import main
from simulate.design.loader import load_scenario, with_overrides
from simulate.report.formatting import share_pm
from simulate.report import style, words

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "scenarios" / "nct04743739.toml"
THREE_ARM = ROOT / "scenarios" / "three_arm.toml"
SMALL = ["--replicates", "60", "--set", "simulation.block_size=30", "--jobs", "1"]
NI = ["--set", "analysis.hypothesis=non_inferiority", "--set", "analysis.margin=0.15",
      "--set", "analysis.alternative=greater", "--set", "analysis.alpha=0.025",
      "--set", "analysis.test=farrington_manning", "--set", 'sweep={"trial.n_per_arm" = [40, 63]}']
PUBLISHED = (("rtx", 12.0, 0.21, "paper A, 12 months"), ("rtx_csa", 12.0, 0.43, "paper A, 12 months"),
             ("rtx_csa", 7.0, 0.37, "paper B, 7 months"))
"""(arm, month, remission, source) of the CR scenario's published points; month 7 is not a visit."""
CR_SCENARIO = f'''base = "{DEFAULT.as_posix()}"
name = "cr_published"

[trial]
endpoint = "cr"

[arms.rtx]
remission_at_endpoint = 0.3

[arms.rtx_csa]
remission_at_endpoint = 0.5

[sweep]
"arms.rtx_csa.remission_at_endpoint" = [0.4, 0.5]
"trial.n_per_arm" = [40, 63]
''' + "".join(f'''
[[observed.remission]]
arm = "{arm}"
month = {month}
remission = {value}
source = "{source}"
''' for arm, month, value, source in PUBLISHED)


def run(scenario: Path, out: Path, *extra: str) -> Path:
    assert main(["run", str(scenario), "--out", str(out), *SMALL, *extra]) == 0
    overrides = [a for a, flag in zip([*SMALL, *extra][1:], [*SMALL, *extra]) if flag == "--set"]
    RUNS[out] = load_scenario(scenario, tuple(overrides))
    return out


RUNS: dict[Path, object] = {}
"""Output folder -> the scenario as run (loaded again as the command loaded it)."""


@pytest.fixture(scope="module")
def three_arm(tmp_path_factory) -> Path:
    return run(THREE_ARM, tmp_path_factory.mktemp("three") / "out")


@pytest.fixture(scope="module")
def non_inferiority(tmp_path_factory) -> Path:
    return run(DEFAULT, tmp_path_factory.mktemp("ni") / "out", *NI)


@pytest.fixture(scope="module")
def cr_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cr") / "cr_published.toml"
    path.write_text(CR_SCENARIO, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def complete_remission(cr_file: Path) -> Path:
    return run(cr_file, cr_file.parent / "out")


def page(folder: Path) -> str:
    return (folder / "report.html").read_text(encoding="utf-8")


def section(text: str, title: str) -> str:
    """The report's text from the heading ``title`` to the next heading."""
    start = text.index(f"<h3>{escape(title)}")
    end = text.find("<h", start + 4)
    return text[start:end if end > 0 else None]


def pm(value: float, se: float) -> str:
    return f"{value:.3f} ± {se:.3f}"


def scenario_of(folder: Path):
    return RUNS[folder]


ALL_RUNS = ["three_arm", "non_inferiority", "complete_remission"]


# ----------------------------------------------------------------------------- every run


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_RUNS)
def test_remission_by_visit_csv_has_one_row_per_arm_and_visit(name: str, request) -> None:
    folder = request.getfixturevalue(name)
    scenario = scenario_of(folder)
    table = pd.read_csv(folder / "remission_by_visit.csv")
    assert list(table.columns) == ["arm", "month", "remission", "mc_se"]
    visits = [float(v) for v in scenario.trial.visit_months]
    assert list(zip(table.arm, table.month)) == [(a, m) for a in scenario.arm_names for m in visits]
    assert table.remission.between(0, 1).all() and (table.mc_se >= 0).all()
    assert (table[table.month == 0].remission == 0).all()               # nobody is in remission at baseline
    assert (table[table.month == scenario.trial.endpoint_month].remission > 0).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_RUNS)
def test_every_arm_is_in_the_report_tables_and_figures(name: str, request) -> None:
    folder = request.getfixturevalue(name)
    scenario, text = scenario_of(folder), page(folder)
    assert (folder / "remission_by_visit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert '<figure id="remission_by_visit">' in text
    example = section(text, "The example trial")
    consort = pd.read_csv(folder / "consort.csv").set_index("count")
    for arm in scenario.arm_names:
        lab = escape(scenario.arm(arm).label)
        assert lab in text
        assert f"<td>{lab}: allocated</td><td class=\"num\">{consort.loc[f'randomised_{arm}', 'example_trial']}" in text
        assert f"<td>{lab}{' (control)' if arm == scenario.control_arm else ''}</td>" in example
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", text, re.IGNORECASE)
    assert "<script" not in text.lower()


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_RUNS)
def test_remission_table_matches_the_csv(name: str, request) -> None:
    folder = request.getfixturevalue(name)
    scenario = scenario_of(folder)
    what = words.ENDPOINT_WORDS[scenario.trial.endpoint]
    table = section(page(folder), what[:1].upper() + what[1:] + " over follow-up")
    csv = pd.read_csv(folder / "remission_by_visit.csv")
    for month, rows in csv.groupby("month", sort=True):
        label = f"{month:g}" + (" (endpoint)" if month == scenario.trial.endpoint_month else "")
        by_arm = rows.set_index("arm")
        cells = "".join(f'<td class="num">{pm(by_arm.loc[a, "remission"], by_arm.loc[a, "mc_se"])}</td>'
                        for a in scenario.arm_names)
        assert f"<tr><td>{label}</td>{cells}</tr>" in table, month


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_RUNS)
def test_summary_names_each_experimental_arm_against_the_control(name: str, request) -> None:
    folder = request.getfixturevalue(name)
    scenario = scenario_of(folder)
    summary = json.loads((folder / "run.json").read_text())["summary"]
    power = pd.read_csv(folder / "power.csv").iloc[0]
    assert share_pm(power.power, power.mc_se, int(power.replicates)) in summary[0]
    text = page(folder)
    for line in summary:
        assert escape(line) in text
    if len(scenario.experimental_arms) > 1:
        for arm in scenario.experimental_arms:
            assert f"{scenario.arm(arm).label} vs {scenario.arm(scenario.control_arm).label}" in summary[1]


# ----------------------------------------------------------------------------- (a) three arms


@pytest.mark.slow
def test_three_arm_comparisons_match_the_csv_and_the_power_command(three_arm: Path, capsys) -> None:
    scenario, text = scenario_of(three_arm), page(three_arm)
    comparisons = pd.read_csv(three_arm / "comparisons.csv")
    power = pd.read_csv(three_arm / "power.csv").iloc[0]
    assert list(comparisons.arm) == list(scenario.experimental_arms)
    assert (comparisons.control == scenario.control_arm).all()
    assert main(["power", str(THREE_ARM), "--json", *SMALL]) == 0
    direct = json.loads(capsys.readouterr().out)
    for row, expected in zip(comparisons.itertuples(), direct["comparisons"], strict=True):
        for key in ("power", "mc_se", "true_difference", "mean_risk_difference", "ci_coverage"):
            assert getattr(row, key) == pytest.approx(expected[key], rel=1e-12, abs=1e-15), key
    for key in ("power", "mc_se", "power_any", "power_any_mc_se", "power_all", "power_all_mc_se"):
        assert power[key] == pytest.approx(direct[key], rel=1e-12), key

    table = section(text, f"Comparisons with {scenario.arm(scenario.control_arm).label}")
    for c in comparisons.itertuples():
        name = escape(f"{c.arm_label} vs {c.control_label}")
        assert (f'<tr><td>{name}</td><td class="num">{pm(c.power, c.mc_se)}</td>'
                f'<td class="num">{c.true_difference:.3f}</td>'
                f'<td class="num">{pm(c.mean_risk_difference, c.risk_difference_bias_se)}</td>'
                f'<td class="num">{c.ci_coverage:.3f}</td><td class="num">{c.mean_ci_width:.3f}</td>') in table
    assert f'<td>At least one comparison significant (any)</td><td class="num">' \
           f'{pm(power.power_any, power.power_any_mc_se)}</td>' in table
    assert f'<td>Every comparison significant (all)</td><td class="num">' \
           f'{pm(power.power_all, power.power_all_mc_se)}</td>' in table
    # the power the report leads with is the one analysis.success counts (any), with its rule in words
    assert power.success == "any" and power.power == power.power_any
    main_table = section(text, "Power and operating characteristics")
    shown = share_pm(power.power, power.mc_se, int(power.replicates))    # 1.000 has its exact bound
    assert f'<td>Power ± Monte Carlo SE</td><td>{shown}</td>' in main_table
    assert "Holm&#39;s step-down adjustment" in main_table and "analysis.multiplicity = holm" in main_table
    assert "at least one of the 2 comparisons with RTX alone is significant" in main_table
    assert "analysis.success = any" in main_table


@pytest.mark.slow
def test_three_arm_colours_and_consort_follow_the_arms(three_arm: Path) -> None:
    scenario = scenario_of(three_arm)
    consort = pd.read_csv(three_arm / "consort.csv").set_index("count")
    for arm in scenario.arm_names:
        assert f"randomised_{arm}" in consort.index and f"analysed_{arm}" in consort.index
    colours = style.arm_colours(scenario.arm_names, scenario.control_arm)
    assert list(colours.values()) == list(style.ARM_PALETTE[:3])


# ----------------------------------------------------------------------------- (b) non-inferiority


@pytest.mark.slow
def test_non_inferiority_is_stated_in_words(non_inferiority: Path) -> None:
    text = page(non_inferiority)
    power = pd.read_csv(non_inferiority / "power.csv").iloc[0]
    assert power.hypothesis == "non_inferiority" and power.margin == 0.15 and power.test == "farrington_manning"
    main_table = section(text, "Power and operating characteristics")
    assert "Farrington–Manning score test" in main_table and "farrington_manning" not in main_table
    assert "Non-inferiority, margin 0.15" in main_table
    assert "H0: experimental − control ≤ −0.15" in main_table and "One-sided alpha = 0.025" in main_table
    shown = share_pm(power.power, power.mc_se, int(power.replicates))    # 1.000 has its exact bound
    assert f'<td>Power ± Monte Carlo SE</td><td>{shown}</td>' in main_table
    summary = json.loads((non_inferiority / "run.json").read_text())["summary"]
    assert "non-inferior to RTX alone (margin 0.15)" in summary[0]
    assert "Farrington–Manning score test at one-sided alpha 0.025" in summary[0]
    sizes = section(text, "Sample size per arm")
    assert "Farrington and Manning" in sizes and "Pooled normal" not in sizes


# ----------------------------------------------------------------------------- (c) CR endpoint, published figures


@pytest.mark.slow
def test_complete_remission_endpoint_is_named(complete_remission: Path) -> None:
    text = page(complete_remission)
    summary = json.loads((complete_remission / "run.json").read_text())["summary"]
    assert "complete remission (CR) at month 24 as the primary endpoint" in summary[0]
    assert "<h3>Complete remission (CR) over follow-up</h3>" in text
    assert "complete remission (CR) at month 24" in section(text, "Power and operating characteristics")


@pytest.mark.slow
def test_published_remission_is_shown_beside_the_simulated(complete_remission: Path) -> None:
    scenario = scenario_of(complete_remission)
    assert scenario.observed.accrual and len(scenario.observed.remission) == len(PUBLISHED)
    table = section(page(complete_remission), "Simulated vs published")
    csv = pd.read_csv(complete_remission / "remission_by_visit.csv").set_index(["arm", "month"])
    for arm, month, value, source in PUBLISHED:
        lab = escape(scenario.arm(arm).label)
        if month in scenario.trial.visit_months:
            sim = csv.loc[(arm, month)]
            expected = pm(sim.remission, sim.mc_se)
        else:
            expected = "not at a visit (visits: 0, 1, 3, 6, 9, 12, 15, 18, 21, 24)"
        assert (f'<tr><td>{lab}</td><td class="num">{month:g}</td><td class="num">{value:.3f}</td>'
                f'<td>{expected}</td><td>{escape(source)}</td></tr>') in table, (arm, month)
    assert "stars are the published figures" in page(complete_remission)


@pytest.mark.slow
def test_observed_without_accrual_is_handled_everywhere(cr_file: Path, tmp_path: Path) -> None:
    """Published remission but no accrual: no real-trial star, no 'rate actually seen' line,
    the published points still in the report."""
    from simulate.run.compute import compute_accrual
    from simulate.run.main_job import run_all

    scenario = load_scenario(cr_file, ("simulation.block_size=30",))
    points = tuple({"arm": a, "month": m, "remission": v, "source": s} for a, m, v, s in PUBLISHED)
    bare = with_overrides(scenario, {"observed": {"source": "papers", "remission": points}})
    assert not bare.observed.accrual and bare.observed.n_randomised is None
    assert compute_accrual(bare, 1).observed is None
    results = run_all(bare, tmp_path, replicates=30, jobs=1)
    text = page(tmp_path)
    assert not any("actually seen" in line for line in results.summary)
    assert "real trial achieved" not in text
    assert "Simulated vs published" in text and "0.430" in text
    assert (tmp_path / "accrual.png").is_file()


# ----------------------------------------------------------------------------- the words and colours


def test_report_wording_covers_every_choice() -> None:
    from simulate.design.fields import ENDPOINTS

    assert set(words.TEST_NAMES) == set(choices.TESTS)
    assert set(words.MULTIPLICITY_WORDS) == set(words.MULTIPLICITY_SHORT) == set(choices.MULTIPLICITY)
    assert set(words.ENDPOINT_WORDS) == set(words.ENDPOINT_SHORT) == set(ENDPOINTS)


def test_arm_colours_are_fixed_by_place_with_the_control_first() -> None:
    arms = [f"arm{i}" for i in range(8)]
    colours = style.arm_colours(arms)
    assert list(colours.values()) == list(style.ARM_PALETTE) and len(set(colours.values())) == 8
    moved = style.arm_colours(["a", "b", "c"], control="b")
    assert moved == {"b": style.ARM_PALETTE[0], "a": style.ARM_PALETTE[1], "c": style.ARM_PALETTE[2]}
    assert style.arm_colours(["a", "b", "c"], control="b") == moved          # stable
