"""The report in a real browser: every shipped scenario's report.html, opened in headless Chromium
(Debian's ``chromium`` driven by Playwright for Python), makes no network request, logs no
console error, fits a 390 px phone screen, axe-core finds no serious or critical violation, and
its print PDF keeps each figure whole on one page (read back with pypdf).

Skips with a one-line reason when Chromium, Playwright, axe-core or pypdf is absent. Marked ``browser``
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
    from simulate.design.loader import load_scenario
    from simulate.run.main_job import run_all

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


def _image_draws(reader) -> list[tuple[int, tuple[int, int], tuple[float, float, float, float]]]:
    """Every image the PDF draws: (page index, its (width, height) in pixels, the box it is drawn
    in on the page, (x0, y0, x1, y1) in points). The content stream is walked with its graphics
    state (q/Q, cm), into form XObjects too: an image is drawn in the unit square mapped by the
    current transformation matrix."""
    from pypdf.generic import ContentStream

    def times(m, n):
        a, b, c, d, e, f = m
        A, B, C, D, E, F = n
        return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)

    out = []

    def walk(index, stream, resources, ctm):
        xobjects = resources.get("/XObject")
        xobjects = xobjects.get_object() if xobjects is not None else {}
        stack = []
        for operands, op in ContentStream(stream, reader).operations:
            if op == b"q":
                stack.append(ctm)
            elif op == b"Q":
                ctm = stack.pop()
            elif op == b"cm":
                ctm = times([float(v) for v in operands], ctm)
            elif op == b"Do":
                xo = xobjects[operands[0]].get_object()
                if xo["/Subtype"] == "/Image":
                    a, b, c, d, e, f = ctm
                    xs, ys = (e, e + a, e + c, e + a + c), (f, f + b, f + d, f + b + d)
                    out.append((index, (int(xo["/Width"]), int(xo["/Height"])), (min(xs), min(ys), max(xs), max(ys))))
                elif xo["/Subtype"] == "/Form":
                    matrix = [float(v) for v in xo.get("/Matrix", (1, 0, 0, 1, 0, 0))]
                    walk(index, xo, xo.get("/Resources", resources).get_object(), times(matrix, ctm))

    for i, page in enumerate(reader.pages):
        walk(i, page.get_contents(), page["/Resources"].get_object(), (1, 0, 0, 1, 0, 0))
    return out


def figures_not_whole(page, paper: str = "A4") -> tuple[int, list[str]]:
    """Print ``page`` to PDF (Chromium's ``page.pdf``) and read it back with pypdf: (the number
    of figures, a line for each figure that is not whole on one page).

    The method: every figure's image must be drawn exactly once, in the figures' order, wholly
    inside its page's media box, and the figure's caption title must be in the text of that same
    page. When Chromium breaks a figure across pages it draws its image on each page it touches,
    each time shifted past the page edge (and clipped there); a figure that fits is drawn once,
    inside the page. So one draw per figure, a drawn box inside the page and the caption on the
    page of the image together mean that image and caption are whole on a single page. Images
    are matched to figures by their pixel size (the PDF keeps the embedded PNG's) in document
    order; the drawn box comes from the content stream's transformation matrix."""
    import io
    import unicodedata

    pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed (pip install pypdf)")
    figures = page.evaluate("""() => [...document.querySelectorAll('figure')].map(f => {
        const img = f.querySelector('img');
        return {id: f.id, title: f.querySelector('figcaption b').textContent,
                size: [img.naturalWidth, img.naturalHeight]};
    })""")
    reader = pypdf.PdfReader(io.BytesIO(page.pdf(format=paper)))
    sizes = [tuple(f["size"]) for f in figures]
    draws = [d for d in _image_draws(reader) if d[1] in sizes]
    if [d[1] for d in draws] != sizes:
        return len(figures), [f"images drawn {[d[1] for d in draws]}, figures {sizes}: not one draw per figure"]
    words = lambda text: " ".join(unicodedata.normalize("NFKC", text).split())  # noqa: E731 (ligatures, line breaks)
    texts = [words(p.extract_text()) for p in reader.pages]
    problems = []
    for figure, (index, _, (x0, y0, x1, y1)) in zip(figures, draws):
        box = reader.pages[index].mediabox
        if not (x0 >= float(box.left) - 0.5 and y0 >= float(box.bottom) - 0.5
                and x1 <= float(box.right) + 0.5 and y1 <= float(box.top) + 0.5):
            problems.append(f"{figure['id']}: drawn at {(x0, y0, x1, y1)}, beyond page {index + 1} ({box})")
        if words(figure["title"]) not in texts[index]:
            problems.append(f"{figure['id']}: its caption is not on page {index + 1}, with its image")
    return len(figures), problems


@pytest.mark.parametrize("name", NAMES)
def test_the_print_pdf_keeps_each_figure_whole_on_one_page(browser, reports, name):
    """Each figure of the report, image and caption, on one page of the A4 print (the method:
    :func:`figures_not_whole`)."""
    page, *_ = open_page(browser, reports[name])
    n_figures, problems = figures_not_whole(page)
    page.close()
    assert n_figures >= 6 and problems == [], problems


def test_the_pdf_check_sees_a_figure_split_across_pages(browser, tmp_path):
    """The check above can fail: a figure taller than the page is split, and it says so."""
    import base64
    import io

    from matplotlib.figure import Figure

    buf = io.BytesIO()
    Figure(figsize=(2, 2)).savefig(buf, format="png", dpi=50)
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    page_file = tmp_path / "tall.html"
    page_file.write_text(f"<!doctype html><html><body><p>Before.</p><figure id='tall'><img src='{uri}' alt='x' "
                         "style='width:100%;height:1600px'><figcaption><b>A tall figure.</b> Its caption."
                         "</figcaption></figure></body></html>", encoding="utf-8")
    page, *_ = open_page(browser, page_file)
    n_figures, problems = figures_not_whole(page, paper="A6")
    page.close()
    assert n_figures == 1 and problems and "not one draw per figure" in problems[0], problems


@pytest.mark.parametrize("name", NAMES[:1])
def test_the_print_has_page_margins_and_two_figures_share_a_page(browser, reports, name):
    """``@page`` margins keep every figure off the paper's edge (15 mm is 42.5 pt), and figures
    are sized so that two fit a page where they follow each other."""
    import io
    from collections import Counter

    pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed (pip install pypdf)")
    page, *_ = open_page(browser, reports[name])
    sizes = {tuple(s) for s in page.evaluate(
        "() => [...document.querySelectorAll('figure img')].map(i => [i.naturalWidth, i.naturalHeight])")}
    reader = pypdf.PdfReader(io.BytesIO(page.pdf(format="A4", prefer_css_page_size=True)))
    page.close()
    draws = [d for d in _image_draws(reader) if d[1] in sizes]
    assert draws
    for index, _, (x0, y0, x1, y1) in draws:
        box = reader.pages[index].mediabox
        assert x0 >= 40 and float(box.right) - x1 >= 40 and y0 >= 40 and float(box.top) - y1 >= 40, (index, x0, y0)
    assert max(Counter(index for index, *_ in draws).values()) >= 2


def test_the_page_shows_the_null_world_and_the_design_stage_answer(browser, reports):
    """Every report has its operating characteristics beside the power and an OC curve; MENTOR's
    verdict leads with the power at the rates its design assumed; the three-arm design shows its
    unadjusted power and family-wise error beside the Holm-adjusted ones."""
    for name in NAMES:
        page, *_ = open_page(browser, reports[name], PHONE)
        section = page.locator("#operating-section")
        assert section.is_visible(), name
        assert "null world" in section.inner_text().lower(), name
        # the section's table scrolls inside its box at phone width: the page does not
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE, name
        page.close()
    page, *_ = open_page(browser, reports["mentor"])
    verdict = page.inner_text("#verdict")
    assert "At the published rates" in verdict and "at the rates the design assumed" in verdict
    assert "are published results, not design assumptions" in verdict
    page.close()
    page, *_ = open_page(browser, reports["three_arm"])
    table = page.inner_text("#operating-section table")
    assert "without the multiplicity adjustment" in table and "family-wise error" in table
    page.close()
