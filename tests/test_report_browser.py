"""The report in a real browser: every shipped scenario's report.html, opened in headless Chromium
(Debian's ``chromium`` driven by Playwright for Python), makes no network request, logs no
console error, fits a 390 px phone screen, and axe-core finds no serious or critical violation.

Skips with a one-line reason when Chromium, Playwright or axe-core is absent. Marked ``browser``
so a quick lane can leave it out (``pytest -m "not browser"``).

axe-core is looked for at ``$AXE_CORE_JS``, else in ``.ci/node/node_modules/axe-core/`` (where
``.ci/run`` installs it with npm).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import AXE, SHIPPED_SCENARIOS, require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPLICATES = 40
PHONE = 390

require_chromium()


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """report.html of every shipped scenario, from a small run (few replicates, a one-point sweep)."""
    from simulate.loader import load_scenario
    from simulate.pipeline import run_all

    out = {}
    for path in SHIPPED_SCENARIOS:
        folder = tmp_path_factory.mktemp(path.stem)
        scenario = load_scenario(path, ("simulation.block_size=40",))
        run_all(scenario, folder, replicates=REPLICATES, jobs=1, scenario_path=path,
                overrides=("simulation.block_size=40",))
        out[path.stem] = folder / "report.html"
    return out


def open_page(browser, report: Path, width: int = 1200):
    """The report in a fresh page; returns (page, requests made, console errors)."""
    page = browser.new_page(viewport={"width": width, "height": 800})
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report.as_uri(), wait_until="load")
    return page, requests, errors


NAMES = [p.stem for p in SHIPPED_SCENARIOS]


@pytest.mark.parametrize("name", NAMES)
def test_no_request_leaves_the_file_and_no_console_error(browser, reports, name):
    page, requests, errors = open_page(browser, reports[name])
    page.close()
    outside = [u for u in requests if not (u.startswith("file://") or u.startswith("data:"))]
    assert outside == [], outside
    assert errors == [], errors


@pytest.mark.parametrize("name", NAMES)
def test_at_phone_width_the_page_is_no_wider_than_the_screen(browser, reports, name):
    page, *_ = open_page(browser, reports[name], PHONE)
    width = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest('.scroll, .zoom'))
        .slice(0, 5).map(e => e.tagName + '.' + e.className)""")
    page.close()
    assert width <= PHONE, (width, wide)


@pytest.mark.parametrize("name", NAMES)
def test_axe_finds_no_serious_or_critical_violation(browser, reports, name):
    if not AXE.exists():
        pytest.skip(f"no axe-core at {AXE} (npm install --prefix .ci/node axe-core)")
    page, *_ = open_page(browser, reports[name])
    page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    page.close()
    bad = [(v["id"], v["impact"], len(v["nodes"]), v["nodes"][0]["target"]) for v in result["violations"]
           if v["impact"] in ("serious", "critical")]
    assert bad == [], bad


@pytest.mark.parametrize("name", NAMES[:1])
def test_print_opens_the_collapsed_details_and_keeps_figures_whole(browser, reports, name):
    page, *_ = open_page(browser, reports[name])
    hidden_on_screen = not page.evaluate("document.querySelector('details:not([open]) table').checkVisibility()")
    page.emulate_media(media="print")
    printed = page.evaluate("document.querySelector('details:not([open]) table').checkVisibility()")
    styles = page.evaluate("""() => [...document.querySelectorAll('figure, table')]
        .map(e => getComputedStyle(e).breakInside)""")
    colours = page.evaluate("getComputedStyle(document.querySelector('.badge')).printColorAdjust")
    pdf = page.pdf(format="A4")
    page.close()
    assert hidden_on_screen and printed, "a collapsed <details> must print open"
    assert set(styles) == {"avoid"}, set(styles)
    assert colours == "exact"
    assert pdf[:4] == b"%PDF"
