"""The teaching lab in a real browser: ``trialsim teach`` started on a free port, driven by
Playwright for Python in Debian's Chromium. What appears must be the command line's: the power
``trialsim power`` prints for the same inputs and seed, the loader's message beside a bad input,
a trial whose CONSORT counts add up, an exported design that ``trialsim validate`` accepts.

Skips with a one-line reason when Chromium, Playwright or Shiny is absent. Marked ``browser``
and ``slow`` like the report's browser tests.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import AXE, ROOT, require_chromium, tree_rss_mb, trialsim_executable

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PHONE = 390
SCENARIO = "nct04743739"
START_SECONDS = 60

require_chromium()
pytest.importorskip("shiny", reason="shiny is not installed (pip install 'trialsim[teach]')")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(workdir: Path) -> tuple[subprocess.Popen, str]:
    """``trialsim teach`` on a free port, in a subprocess, once its page answers."""
    port = free_port()
    proc = subprocess.Popen([str(trialsim_executable()), "teach", SCENARIO, "--port", str(port)], cwd=workdir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"the lab did not start: {proc.communicate()[1].decode()[-2000:]}")
            time.sleep(0.1)


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    """The lab, until the module's tests are done; it writes nothing, here or anywhere."""
    workdir = tmp_path_factory.mktemp("teach")
    proc, url = start_lab(workdir)
    yield proc, url
    proc.terminate()
    _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err.decode(), err.decode()[-3000:]
    assert list(workdir.iterdir()) == []


@pytest.fixture(scope="module")
def lab_url(lab_server):
    return lab_server[1]


@pytest.fixture
def page(browser, lab_url):
    page = browser.new_page(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text} ({m.location})") if m.type == "error"
            else None)
    page.goto(lab_url)
    page.wait_for_selector("#command")
    yield page
    page.close()
    assert errors == [], errors


def set_inputs(page, **values) -> None:
    """Type each value into its box (or choose it), then wait until the lab has taken them all:
    the command beside the inputs is the one for the design with these values."""
    for key, value in values.items():
        if page.eval_on_selector(f"#{key}", "e => e.tagName") == "SELECT":
            page.select_option(f"#{key}", str(value))
        elif page.eval_on_selector(f"#{key}", "e => e.type") == "checkbox":
            page.set_checked(f"#{key}", bool(value))
        else:
            page.fill(f"#{key}", str(value))
            page.press(f"#{key}", "Tab")
    from simulate.design.loader import load_scenario, read_scenario_data
    from simulate.teach import inputs

    base = load_scenario(SCENARIO)
    checked = inputs.check(read_scenario_data(SCENARIO), base, {**inputs.input_values(base), **values})
    expected = inputs.command(SCENARIO, checked)
    page.wait_for_function("text => document.querySelector('#command')?.textContent === text", arg=expected)


def run_view(page, tab: str, button: str, **values) -> None:
    """The design with ``values``, computed in view ``tab`` by pressing ``button``."""
    set_inputs(page, **values)
    page.click(f"a[data-value='{tab}']")
    page.click(f"#{button}")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(trialsim_executable()), *args], capture_output=True, text=True, cwd=ROOT, timeout=300)


def test_power_value_is_what_trialsim_power_prints_for_the_same_inputs_and_seed(page):
    run_view(page, "many", "simulate", n_per_arm=50, dropout=0.2, test="chi2", replicates=300, seed=7)
    page.wait_for_selector("#power_value[data-complete='true'][data-replicates='300']", timeout=60_000)
    shown = page.text_content("#power_value")
    out = cli("power", SCENARIO, "--replicates", "300", "--seed", "7", "--json", "--set", "trial.n_per_arm=50",
              "--set", "dropout.probability_by_endpoint=0.2", "--set", "analysis.test=chi2")
    assert out.returncode == 0, out.stderr
    assert shown == f"{json.loads(out.stdout)['power']:.3f}"
    page.wait_for_selector("#many_view img", timeout=30_000)
    assert page.locator("#many_view img").count() == 2


@pytest.mark.parametrize("key, value, override", [
    ("remission_control", "1.5", "arms.rtx.remission_at_endpoint=1.5"),
    ("n_per_arm", "0", "trial.n_per_arm=0"),
    ("n_per_arm", "abc", "trial.n_per_arm=abc"),            # text where a number belongs
    ("n_per_arm", "", "trial.n_per_arm=''"),                # a cleared box: the empty text
    ("alpha", "", "analysis.alpha=''"),
])
def test_a_bad_input_shows_the_command_lines_message_beside_it(page, key, value, override):
    page.fill(f"#{key}", value)
    page.press(f"#{key}", "Tab")
    page.wait_for_selector(f"#{key}_error", timeout=10_000)
    out = cli("validate", SCENARIO, "--set", override)
    assert out.returncode == 2
    # the command line's message, with the scenario field named by the lab's own control
    from simulate.design.loader import load_scenario
    from simulate.teach import inputs, wording

    paths = inputs.field_paths(load_scenario(SCENARIO))
    assert page.text_content(f"#{key}_error").strip() == wording.plain(out.stderr.strip(), paths)
    # the box is marked invalid, its message tied to it, and the mark goes with the message
    assert page.get_attribute(f"#{key}", "aria-invalid") == "true"
    assert page.get_attribute(f"#{key}", "aria-describedby") == f"{key}_error"
    assert page.locator("#command").count() == 0          # no design to run while an input is wrong
    page.click("a[data-value='many']")
    page.click("#simulate")
    page.wait_for_selector(".shiny-notification-error", timeout=10_000)
    assert "Fix the inputs marked in red first." in page.text_content(".shiny-notification-error")
    assert page.locator("#power_value").count() == 0
    set_inputs(page, **{key: {"remission_control": "0.6", "n_per_arm": "63", "alpha": "0.05"}[key]})
    page.wait_for_selector(f"#{key}_error", state="detached", timeout=10_000)
    page.wait_for_function(f"() => !document.querySelector('#{key}').hasAttribute('aria-invalid')")


def test_one_trials_consort_numbers_add_up_and_another_trial_differs(page):
    page.click("#one_trial")
    page.wait_for_selector("#two_by_two", timeout=60_000)

    def count(name: str) -> int:
        return int(page.text_content(f"#consort_{name}"))

    def consort() -> dict[str, int]:
        arms = ("rtx", "rtx_csa")
        c = {k: count(k) for k in ("referred", "excluded_total", "deferred", "lost_during_deferral",
                                   "not_randomised_enrolment_closed", "randomised")}
        for k in ("randomised_per_arm", "discontinued_per_arm", "analysed_per_arm"):
            c.update({f"{k}_{a}": count(f"{k}_{a}") for a in arms})
        for a in arms:
            c[f"table_analysed_{a}"] = int(page.text_content(f"#analysed_{a}"))
            c[f"table_responders_{a}"] = int(page.text_content(f"#responders_{a}"))
        return c

    first = consort()
    assert first["referred"] == (first["excluded_total"] + first["lost_during_deferral"]
                                 + first["not_randomised_enrolment_closed"] + first["randomised"])
    assert first["randomised_per_arm_rtx"] + first["randomised_per_arm_rtx_csa"] == first["randomised"]
    for a in ("rtx", "rtx_csa"):
        assert first[f"table_analysed_{a}"] == first[f"analysed_per_arm_{a}"]
        assert 0 <= first[f"table_responders_{a}"] <= first[f"table_analysed_{a}"]
        assert first[f"discontinued_per_arm_{a}"] <= first[f"randomised_per_arm_{a}"]
    assert "Trial 0 of seed " in page.text_content("#one_view h5")
    page.click("#another_trial")
    page.wait_for_function("document.querySelector('#one_view h5')?.textContent.startsWith('Trial 1 ')",
                           timeout=60_000)
    second = consort()
    assert second != first
    assert page.locator("#one_view img").count() == 3


def test_trials_are_numbered_as_trialsim_trial_and_the_report_number_them_and_restart_with_a_new_seed(page):
    from simulate.design.loader import load_scenario

    seed = load_scenario(SCENARIO).simulation.seed
    heading = "text => document.querySelector('#one_view h5')?.textContent === text"
    page.click("#one_trial")
    page.wait_for_function(heading, arg=f"Trial 0 of seed {seed}", timeout=60_000)
    assert f"trialsim trial --seed {seed}" in page.text_content("#one_view")
    page.click("#another_trial")
    page.wait_for_function(heading, arg=f"Trial 1 of seed {seed}", timeout=60_000)
    set_inputs(page, seed=5)
    page.click("#another_trial")
    page.wait_for_function(heading, arg="Trial 0 of seed 5", timeout=60_000)
    page.click("#another_trial")
    page.wait_for_function(heading, arg="Trial 1 of seed 5", timeout=60_000)


def test_the_exported_design_validates_on_the_command_line(page, tmp_path):
    set_inputs(page, n_per_arm=40, missing="complete_case")
    page.click("a[data-value='export']")
    page.wait_for_selector("#export", timeout=10_000)
    with page.expect_download() as download:
        page.click("#export")
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.name == "nct04743739-lab.toml"
    out = cli("validate", str(saved))
    assert (out.returncode, out.stdout.strip()) == (0, "OK"), out.stderr
    from simulate.design.loader import load_scenario

    expected = load_scenario(SCENARIO, ("trial.n_per_arm=40", "analysis.missing=complete_case"))
    loaded = load_scenario(saved)
    assert loaded.name == "nct04743739-lab"
    assert loaded.model_copy(update={"name": expected.name, "description": expected.description}) == expected


def test_a_long_run_shows_progress_and_can_be_cancelled(page):
    run_view(page, "many", "simulate", replicates=1_000_000)     # minutes of work, within the lab's limit
    page.wait_for_selector("#progress .progress-bar", timeout=30_000)
    page.wait_for_selector("#power_value[data-complete='false']", timeout=30_000)
    page.click("#cancel")
    page.wait_for_function("document.querySelector('#many_view').textContent.includes('Cancelled (')",
                           timeout=30_000)
    assert page.locator("#progress").count() == 0


def test_the_null_world_shows_each_tests_type_one_error(page, tmp_path):
    run_view(page, "null", "null_world", replicates=250)
    page.wait_for_selector("#type1_fisher", timeout=60_000)
    # the null the lab builds (the registered events: RTX + CsA takes RTX alone's whole model and
    # its events' chances), written as a file and run by the command line
    from simulate.design.loader import load_scenario
    from simulate.design.null_world import null_scenario
    from simulate.teach.inputs import to_toml

    null_file = tmp_path / "null.toml"
    null_file.write_text(to_toml(null_scenario(load_scenario(SCENARIO))[0]), encoding="utf-8")
    out = cli("power", null_file, "--replicates", "250", "--json")
    assert out.returncode == 0, out.stderr
    assert page.text_content("#type1_fisher") == f"{json.loads(out.stdout)['power']:.3f}"
    for test in ("chi2", "chi2_yates", "ztest"):
        assert page.locator(f"#type1_{test}").count() == 1


STALE = "The design has changed: click"


@pytest.mark.parametrize("tab, button, done", [
    ("one", "one_trial", "#two_by_two"),
    ("many", "simulate", "#power_value[data-complete='true']"),
    ("null", "null_world", "#type1_fisher"),
    ("how_many", "how_many", "#n_for_80"),
])
def test_a_result_is_marked_out_of_date_once_an_input_changes(page, tab, button, done):
    run_view(page, tab, button, replicates=200)
    page.wait_for_selector(done, timeout=120_000)
    view = f"#{tab}_view > [data-stale]"
    assert page.get_attribute(view, "data-stale") == "false"
    assert STALE not in page.text_content(f"#{tab}_view")
    set_inputs(page, replicates=200, n_per_arm=100)     # the lab keeps the replicates set above
    page.wait_for_selector(f"#{tab}_view > [data-stale='true']", timeout=10_000)
    assert STALE in page.text_content(f"#{tab}_view_stale")
    assert page.is_visible(f"#{tab}_view_stale")
    if tab == "many":
        assert page.get_attribute("#power_value", "data-stale") == "true"
        page.fill("#alpha", "2")                         # an invalid design: still not this result's
        page.press("#alpha", "Tab")
        page.wait_for_selector("#alpha_error", timeout=10_000)
        assert page.get_attribute("#power_value", "data-stale") == "true"
        set_inputs(page, replicates=200, alpha="0.05", n_per_arm=63)   # back to the design it was computed for
        page.wait_for_selector("#power_value[data-stale='false']", timeout=10_000)
        assert page.locator("#many_view_stale").count() == 0


def test_the_test_menu_offers_only_the_tests_this_design_can_use(page):
    offered = page.eval_on_selector_all("#test option", "os => os.map(o => o.value)")
    assert offered == ["fisher", "chi2", "chi2_yates", "ztest", "farrington_manning", "wald"]
    refused = page.text_content("#test_refused")
    assert "Farrington-Manning" in refused and "choose “one-sided (experimental better)” in “Sidedness”" in refused
    assert "CMH" in refused and "only a scenario file can change" in refused
    assert "randomisation.stratify_by" not in refused and "set " not in refused


def test_a_non_inferiority_design_is_set_in_the_lab_and_gives_trialsims_power(page):
    run_view(page, "many", "simulate", hypothesis="non_inferiority", margin="0.15", alternative="greater",
             test="farrington_manning", alpha="0.025", replicates=300, seed=7)
    page.wait_for_selector("#power_value[data-complete='true'][data-replicates='300']", timeout=60_000)
    out = cli("power", SCENARIO, "--replicates", "300", "--seed", "7", "--json", "--no-null-world",
              "--set", "analysis.hypothesis=non_inferiority", "--set", "analysis.margin=0.15",
              "--set", "analysis.alternative=greater", "--set", "analysis.test=farrington_manning",
              "--set", "analysis.alpha=0.025")
    assert out.returncode == 0, out.stderr
    assert page.text_content("#power_value") == f"{json.loads(out.stdout)['power']:.3f}"
    page.wait_for_selector("#many_view img", timeout=30_000)
    assert page.locator("#many_view img").count() == 2


def test_a_clash_of_inputs_is_told_in_the_lab_s_words(page):
    page.select_option("#hypothesis", "non_inferiority")
    page.wait_for_selector("#margin", state="visible")
    page.fill("#margin", "0.15")
    page.press("#margin", "Tab")
    page.select_option("#alternative", "greater")
    page.wait_for_selector("#test_error", timeout=10_000)
    page.wait_for_function("() => !document.querySelector('#margin_error')")
    text = page.text_content("#test_error")
    assert "“Test”" in text and "Farrington-Manning" in text and "analysis.test" not in text
    assert page.get_attribute("#test", "aria-invalid") == "true"


def test_one_trial_says_what_its_p_value_and_interval_mean(page):
    page.click("#one_trial")
    page.wait_for_selector("#one_definitions", timeout=60_000)
    text = page.text_content("#one_definitions")
    assert "p-value." in text and "It is not the chance that the treatment does nothing" in text
    assert "interval." in text and ("Why they disagree here" in text or "in this trial they agree" in text)


def test_the_null_world_shows_the_p_values_of_the_designs_test(page):
    run_view(page, "null", "null_world", replicates=250)
    page.wait_for_selector("#null_p_values", timeout=60_000)
    alts = page.eval_on_selector_all("#null_view img", "is => is.map(i => i.alt)")
    assert "Histogram of the p-values with no true difference" in alts


def test_dropout_inputs_render_and_a_run_with_imputation_shows_the_truth_beside_the_estimates(page):
    assert page.is_visible("#dropout_mechanism") and not page.is_visible("#mar_hazard_ratio")
    page.select_option("#dropout_mechanism", "mar")
    page.wait_for_selector("#mar_hazard_ratio", state="visible")
    page.wait_for_function("document.querySelector('#dropout_mechanism_hint')?.textContent.includes('last visit')",
                           timeout=10_000)
    page.select_option("#missing", "mi_mar")           # Fisher's test cannot combine imputations: Wald takes over
    page.wait_for_selector("#test_switched_note", timeout=10_000)
    assert page.input_value("#test") == "wald" and page.is_visible("#imputations")
    assert "Rubin's rules" in page.text_content("#missing_hint")
    # the message that Fisher's test cannot combine imputations, shown until the switch reaches
    # the server, is gone once it has
    page.wait_for_selector("#missing_error", state="detached", timeout=10_000)
    sets = {"dropout": 0.3, "dropout_mechanism": "mar", "mar_hazard_ratio": 4, "missing": "mi_mar", "test": "wald",
            "replicates": 200}
    run_view(page, "many", "simulate", **sets)
    page.wait_for_selector("#truth_mean", timeout=60_000)
    out = cli("power", SCENARIO, "--replicates", "200", "--json", "--set", "dropout.probability_by_endpoint=0.3",
              "--set", "dropout.mechanism=mar", "--set", "dropout.mar_hazard_ratio_not_in_remission=4.0",
              "--set", "analysis.test=wald", "--set", "analysis.missing=mi_mar")
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    truth = printed["estimand"]["true_values"][0]
    assert page.text_content("#truth_true") == f"{truth['true_difference']:+.3f} ± {truth['true_difference_mc_se']:.3f}"
    assert page.text_content("#truth_mean") == f"{printed['mean_risk_difference']:+.3f}"
    assert page.text_content("#truth_coverage") == f"{100 * printed['ci_coverage']:.1f}%"
    page.select_option("#missing", "nonresponder")     # and back to the student's test
    page.wait_for_function("document.querySelector('#test').value === 'fisher'", timeout=10_000)
    assert page.locator("#test_switched_note").count() == 0


def test_the_page_logs_no_console_error_and_has_an_icon(browser, lab_url):
    page = browser.new_page()
    logged: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: logged.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    page.goto(lab_url)
    page.wait_for_selector("#command")
    page.wait_for_timeout(1000)
    icons = page.eval_on_selector_all("link[rel='icon']", "ls => ls.map(l => l.getAttribute('href'))")
    page.close()
    assert (logged, failed) == ([], [])
    assert len(icons) == 1 and icons[0].startswith("data:image/")


def clipped_tables(page) -> list[dict]:
    """Each table on show in the main panel: clipped if wider than its box and the box does not scroll."""
    return page.evaluate("""() => [...document.querySelectorAll('main table')]
        .filter(t => t.offsetParent !== null)
        .map(t => {
            const box = t.parentElement, overflow = getComputedStyle(box).overflowX;
            const scrolls = overflow === 'auto' || overflow === 'scroll';
            return {id: t.id || t.className, table: t.scrollWidth, box: box.clientWidth, scrolls,
                    clipped: !(t.scrollWidth <= box.clientWidth || scrolls)};
        })""")


def test_at_phone_width_the_lab_is_no_wider_than_the_screen_and_clips_no_table(browser, lab_url):
    page = browser.new_page(viewport={"width": PHONE, "height": 800})
    page.goto(lab_url)
    page.wait_for_selector("#one_trial")
    page.click("#one_trial")
    page.wait_for_selector("#two_by_two", timeout=60_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    seen = clipped_tables(page)                     # the page's width alone misses a table cut off in its card
    page.click("a[data-value='null']")
    page.click("#null_world")
    page.wait_for_selector("#type1_fisher", timeout=120_000)
    seen += clipped_tables(page)
    page.close()
    assert width <= PHONE
    assert len(seen) == 2
    assert [t for t in seen if t["clipped"]] == []


def test_at_phone_width_the_design_toggle_is_labelled_and_figures_stay_legible(browser, lab_url):
    page = browser.new_page(viewport={"width": PHONE, "height": 800})
    page.goto(lab_url)
    page.wait_for_selector("#one_trial")
    toggle = ".bslib-sidebar-layout > .collapse-toggle"
    page.wait_for_function(f"() => document.querySelector('{toggle}')?.getAttribute('aria-label')")
    assert page.get_attribute(toggle, "aria-label").startswith("The design")
    shown = page.evaluate(f"getComputedStyle(document.querySelector('{toggle}'), '::after').content")
    page.click("#one_trial")
    page.wait_for_selector("#one_view img", timeout=60_000)
    img = page.evaluate("(() => { const r = document.querySelector('#one_view img').getBoundingClientRect(); "
                        "return r.width; })()")
    width = page.evaluate("document.documentElement.scrollWidth")
    page.close()
    assert shown == '"The design"'
    assert img >= 600                   # the figure keeps a legible width, scrolling in its own box
    assert width <= PHONE               # and the page itself does not scroll sideways


def test_axe_finds_no_serious_or_critical_violation_in_the_lab(page):
    if not AXE.exists():
        pytest.skip(f"no axe-core at {AXE} (npm install --prefix .ci/node axe-core)")
    run_view(page, "many", "simulate", replicates=250)
    page.wait_for_selector("#many_view img", timeout=60_000)
    page.click("a[data-value='one']")
    page.click("#one_trial")
    page.wait_for_selector("#two_by_two", timeout=60_000)
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [(v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["target"]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == [], bad


def test_ctrl_c_stops_the_lab_promptly_even_during_a_long_run(browser, tmp_path):
    import signal

    proc, url = start_lab(tmp_path)
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector("#command")
    run_view(page, "many", "simulate", replicates=1_000_000)       # minutes of work, within the lab's limit
    page.wait_for_selector("#power_value[data-complete='false']", timeout=30_000)
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=20)
    finally:
        proc.kill()
        page.close()
    err = proc.stderr.read().decode()
    assert "Traceback" not in err and "leaked" not in err, err[-2000:]


IDLE_MARGIN_MB = 200
"""After a computation the lab's memory (its process and any workers) returns to within this of
its level before it."""


def test_memory_returns_near_its_idle_level_after_a_large_computation(page, lab_server):
    proc, _ = lab_server
    time.sleep(1.0)
    idle = tree_rss_mb(proc.pid)
    run_view(page, "many", "simulate", n_per_arm=500, rate_per_site_month=20, replicates=6000, seed=3)
    page.wait_for_selector("#power_value[data-complete='true'][data-replicates='6000']", timeout=120_000)
    page.wait_for_selector("#many_view img", timeout=60_000)
    deadline = time.monotonic() + 10
    while (after := tree_rss_mb(proc.pid)) > idle + IDLE_MARGIN_MB and time.monotonic() < deadline:
        time.sleep(0.5)
    assert after <= idle + IDLE_MARGIN_MB, f"idle {idle:.0f} MB, after the computation {after:.0f} MB"
    set_inputs(page, n_per_arm=63, rate_per_site_month=6.0, replicates=2000, seed=20210414)


@pytest.mark.parametrize("key, value, words", [
    ("replicates", "50000000", "past the time limit"),
])
def test_a_design_past_the_plan_shows_one_line_under_its_input_and_computes_nothing(page, key, value, words):
    from simulate.design.loader import load_scenario, read_scenario_data
    from simulate.teach import inputs

    page.fill(f"#{key}", value)
    page.press(f"#{key}", "Tab")
    page.wait_for_selector(f"#{key}_error", timeout=30_000)
    shown = page.text_content(f"#{key}_error").strip()
    base = load_scenario(SCENARIO)
    expected = inputs.check(read_scenario_data(SCENARIO), base, {**inputs.input_values(base), key: value}).problems[key]
    assert shown == "\n".join(expected) and words in shown and len(expected) == 1
    assert page.locator("#command").count() == 0
    page.click("a[data-value='many']")
    page.click("#simulate")
    page.wait_for_selector(".shiny-notification-error", timeout=10_000)
    assert page.locator("#power_value").count() == 0
    set_inputs(page, **{key: {"replicates": "2000", "rate_per_site_month": "6.0"}[key]})
    page.wait_for_selector(f"#{key}_error", state="detached", timeout=10_000)


def test_a_view_past_the_plan_is_refused_when_asked_for_and_computes_nothing(page):
    from simulate.design.loader import load_scenario
    from simulate.teach import lab

    design = load_scenario(SCENARIO, ["simulation.replicates=500000"])
    assert lab.view_problem(design, "many_view") is None          # the design itself fits
    line = lab.view_problem(design, "how_many_view")
    assert line is not None and "past the time limit" in line
    run_view(page, "how_many", "how_many", replicates=500000)
    page.wait_for_selector("#how_many_view_refused", timeout=30_000)
    assert page.text_content("#how_many_view_refused").strip() == f"error: {line}"
    assert page.locator("#how_many_view img").count() == 0
    set_inputs(page, replicates=2000)


def test_what_if_gives_the_assurance_trialsim_power_prints(page):
    run_view(page, "what_if", "what_if", sure_control=40, sure_experimental=20, replicates=300)
    page.wait_for_selector("#assurance_value", timeout=60_000)
    out = cli("power", SCENARIO, "--replicates", "300", "--json",
              "--set", "arms.rtx.design_prior={ beta = [24, 16] }", "--set", "arms.rtx_csa.design_prior={ beta = [17, 3] }")
    assert out.returncode == 0, out.stderr
    printed = json.loads(out.stdout)
    assert page.text_content("#assurance_value") == f"{printed['assurance']:.3f}"
    assert page.text_content("#whatif_power") == f"{printed['power']:.3f}"
    assert page.text_content("#p_benefit") == f"{printed['assurance_detail']['prior_probability_of_benefit']:.3f}"


def test_the_adjustment_switch_gives_the_power_trialsim_prints_with_g_computation(page):
    run_view(page, "many", "simulate", adjust=True, replicates=300)
    assert 'analysis.adjustment="g_computation"' in page.text_content("#command")
    page.wait_for_selector("#power_value[data-complete='true'][data-replicates='300']", timeout=60_000)
    out = cli("power", SCENARIO, "--replicates", "300", "--json", "--set", 'analysis.test="g_computation"',
              "--set", 'analysis.adjustment="g_computation"',
              "--set", 'analysis.adjust_for=["log2(pla2r_titre_ru_ml)", "proteinuria_g_day"]')
    assert out.returncode == 0, out.stderr
    assert page.text_content("#power_value") == f"{json.loads(out.stdout)['power']:.3f}"
    page.wait_for_selector("#many_view img", timeout=30_000)
    assert "Adjusted for baseline covariates" in page.text_content("#many_view")
