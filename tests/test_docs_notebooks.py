"""The documentation's tutorials are notebooks (jupytext Markdown under docs/pages/tutorials/)
that run: each is executed here cell by cell in a fresh kernel, and fails on any error, including
the assertions in its cells (the API's power equals `trialsim power --json` at the same seed,
the effects the text describes are beyond their Monte Carlo error)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT

TUTORIALS = ROOT / "docs" / "pages" / "tutorials"
jupytext = pytest.importorskip("jupytext", reason="the notebooks need the docs extra: pip install '.[docs]'")
nbclient = pytest.importorskip("nbclient", reason="the notebooks need the docs extra: pip install '.[docs]'")


def notebooks() -> list[Path]:
    """The tutorials that are notebooks: Markdown with a jupytext header naming a Python kernel."""
    found = []
    for path in sorted(TUTORIALS.glob("*.md")):
        meta = jupytext.read(path).get("metadata", {})
        if meta.get("kernelspec", {}).get("language") == "python":
            found.append(path)
    return found


def test_at_least_two_tutorials_are_notebooks() -> None:
    assert len(notebooks()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_the_notebook_runs(path: Path, tmp_path: Path) -> None:
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()          # raises CellExecutionError, with the cell and its traceback, on any failure
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and all(c.get("execution_count") for c in code)
    shown = [o for c in code for o in c.get("outputs", ()) if o.get("output_type") in ("execute_result", "display_data")]
    assert any("text/html" in o.get("data", {}) for o in shown), "no result rendered itself as HTML"


GENERATED = {"validation/comparisons.md", "changelog.md"}
"""Pages the site builds at every build (docs/scripts/gen_pages.py), not kept as files."""


def _slug(heading: str) -> str:
    import re

    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_a_notebooks_links_reach_built_pages(path: Path) -> None:
    """A notebook's Markdown is rendered as it is (its links are not rewritten from .md to .html
    as the site's own pages are), so each relative link names the built page, ``X.html``, and
    the page (and its heading, for an anchor) exists."""
    import re

    pages = ROOT / "docs" / "pages"
    text = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "markdown")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [link for link in links if not link.startswith(("http:", "https:", "#"))]
    for link in relative:
        target, _, anchor = link.partition("#")
        assert target.endswith(".html"), f"{path.name}: {link} must name the built page (.html)"
        page = (path.parent / target).resolve().relative_to(pages.resolve()).with_suffix(".md")
        assert (pages / page).is_file() or page.as_posix() in GENERATED, f"{path.name}: {link} reaches no page"
        if anchor and (pages / page).is_file():
            headings = [line.lstrip("#").strip() for line in (pages / page).read_text().splitlines()
                        if line.startswith("#")]
            assert anchor in {_slug(h) for h in headings}, f"{path.name}: {link}: no heading #{anchor}"
