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
