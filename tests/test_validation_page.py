"""The documentation's validation page (``docs/scripts/validation.py``): every comparison of
``tests/reference_values.py`` is on it, with the call that produced each reference, and every
value on it lies within its tolerance. The page computes trialsim's values as the tests do, so a
value outside its tolerance here is one a test fails on too, shown where readers look."""

from __future__ import annotations

import importlib.util

import pytest

from conftest import ROOT
from reference_values import COMPARISONS

HEADER = "| Quantity | Reference | trialsim | Difference | Tolerance | Within? |"


def load_validation():
    """The page's script as a module (docs/scripts is not a package)."""
    spec = importlib.util.spec_from_file_location("validation", ROOT / "docs" / "scripts" / "validation.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def validation():
    return load_validation()


@pytest.fixture(scope="module")
def page(validation) -> str:
    return validation.page()


def sections(page: str) -> dict[str, str]:
    """Each comparison's part of the page, by its anchor id."""
    parts = {}
    for entry in COMPARISONS:
        anchor = f'<a id="{entry["id"]}"></a>'
        assert page.count(anchor) == 1, f"{entry['id']} is not on the page once"
        start = page.index(anchor)
        following = [page.index(f'<a id="{e["id"]}"></a>') for e in COMPARISONS]
        end = min([i for i in following if i > start], default=len(page))
        parts[entry["id"]] = page[start:end]
    return parts


def table_rows(text: str) -> list[list[str]]:
    """The cells of every table row (headers and rules left out)."""
    rows = []
    for line in text.splitlines():
        if line.startswith("| ") and line != HEADER and not line.startswith("| ---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_every_comparison_is_on_the_page_with_its_calls(page):
    parts = sections(page)
    for entry in COMPARISONS:
        part = parts[entry["id"]]
        assert f"## {entry['title']}" in part
        for case in entry["cases"]:
            assert f"\n{case['call']}\n```" in part, (entry["id"], case["call"])
        assert part.count(HEADER) == len(entry["cases"])


def test_every_value_lies_within_its_tolerance(page):
    parts = sections(page)
    for entry in COMPARISONS:
        rows = table_rows(parts[entry["id"]])
        assert len(rows) >= len(entry["cases"]), entry["id"]
        outside = [r for r in rows if r[-1] != "yes"]
        assert all(len(r) == 6 for r in rows), entry["id"]
        assert not outside, (entry["id"], outside)
    assert "every value lies within its tolerance" in page


def test_the_script_writes_the_page_to_the_path_given(validation, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(validation, "page", lambda: "# page\n\n| a | 1 | 1 | 0 | 1e-7 | yes |\n")
    out = tmp_path / "validation.md"
    assert validation.main([str(out)]) == 0
    assert out.read_text(encoding="utf-8") == "# page\n\n| a | 1 | 1 | 0 | 1e-7 | yes |\n"
    assert "every value within its tolerance" in capsys.readouterr().out
    monkeypatch.setattr(validation, "page", lambda: "| a | 1 | 2 | +1e0 | 1e-7 | **no** |\n")
    assert validation.main([str(out)]) == 1
