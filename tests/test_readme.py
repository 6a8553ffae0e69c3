"""The README and the documentation pages tell the truth: their example commands run, the
options their usage lines show exist, and they point to the field reference the models generate
(a page of the site, built from ``simulate.design.reference.markdown``)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from simulate.cli import cli, main
from simulate.design.reference import markdown

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "docs" / "pages"
README = (ROOT / "README.md").read_text(encoding="utf-8")
SOURCES_PAGE = PAGES / "guide" / "sources.md"
FIELD_REFERENCE = "reference/scenario-fields.md"
SIMULATING = {"power", "samplesize", "sweep", "run", "calibrate"}


def documents() -> dict[str, str]:
    """The README and every page of the documentation site, by path relative to the root."""
    docs = {"README.md": README}
    for page in sorted(PAGES.rglob("*.md")):
        docs[page.relative_to(ROOT).as_posix()] = page.read_text(encoding="utf-8")
    return docs


def example_commands() -> list[str]:
    """Concrete `trialsim ...` lines of the README and the documentation pages (with a real
    scenario file, no placeholder), each once."""
    found: dict[str, None] = {}
    for text in documents().values():
        for line in text.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("trialsim ") and "scenarios/" in line and "<" not in line:
                found.setdefault(line)
    return list(found)


def test_the_readme_has_examples() -> None:
    assert len(example_commands()) >= 4


@pytest.mark.parametrize("command", example_commands())
def test_readme_example_runs(command: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    if args[0] in SIMULATING:
        args += ["--replicates", "40", "--set", "simulation.block_size=40", "--jobs", "1"]
    if args[0] in {"sweep", "run", "trial"} and "--out" not in args:
        args += ["--out", str(tmp_path / ("sweep.csv" if args[0] == "sweep" else "out"))]
    code = main(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    if "--json" in args:
        json.loads(out)


def usage_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(r"^trialsim \w+\s+SCENARIO", line)]


def test_every_option_in_the_usage_lines_exists() -> None:
    docs = documents()
    # the usage block: the one document saying which commands "also take" the shared options
    blocks = [name for name, text in docs.items() if "also take:" in text]
    assert len(blocks) == 1, blocks
    block = docs[blocks[0]]
    assert len(usage_lines(block)) == 8
    lines = block.splitlines()
    at = next(i for i, line in enumerate(lines) if "also take:" in line)
    shared = re.findall(r"--[a-z-]+", lines[at + 1])
    assert shared
    for where, text in docs.items():
        for line in usage_lines(text):
            name = line.split()[1]
            command = cli.commands[name]
            options = {opt for p in command.params for opt in p.opts}
            for flag in re.findall(r"--[a-z0-9-]+", line.split("#")[0]):
                assert flag in options, f"{where} shows {flag} for `trialsim {name}`"
            if name in SIMULATING and where == blocks[0]:
                for flag in shared:
                    assert flag in options, f"{where} says `trialsim {name}` takes {flag}"


def test_the_field_reference_page_is_current() -> None:
    """The field reference page is generated from the models and kept in the repository; it
    must be what the models give now."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("field_reference", ROOT / "docs" / "scripts" / "field_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (PAGES / FIELD_REFERENCE).read_text(encoding="utf-8") == module.page(), \
        "regenerate the field reference with `python docs/scripts/field_reference.py`"


@pytest.mark.parametrize("where", ["README.md", "docs/pages/guide/sources.md"])
def test_the_field_reference_is_linked(where: str) -> None:
    """The field table is not copied into another page: the README and the sources page link
    to the generated page (``reference/scenario-fields.md``)."""
    text = (ROOT / where).read_text(encoding="utf-8")
    base = (ROOT / where).parent
    links = re.findall(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)", text)
    targets = {(base / link).resolve() for link in links if not link.startswith(("http:", "https:"))}
    assert (PAGES / FIELD_REFERENCE).resolve() in targets, f"{where} does not link to {FIELD_REFERENCE}"
    assert "| field | default | allowed | meaning |" not in text, f"{where} still copies the field table"


def test_every_bound_is_in_the_field_reference() -> None:
    from simulate.design.reference import _number, field_rows, rule_of, walk_fields

    allowed = {path: text for path, _, text, _ in field_rows()}
    rows = {path: line for line in markdown().splitlines() if line.startswith("| `")
            for path in [line.split("`")[1]]}
    checked = 0
    for path, _, _, field in walk_fields():
        rule = rule_of(field)
        for bound in (rule.lower, rule.upper):
            if bound is not None:
                assert _number(bound) in allowed[path], f"{path}: {_number(bound)} not in {allowed[path]!r}"
                assert f"| {allowed[path]} |" in rows[path]
                checked += 1
        if rule.max_length is not None:
            assert f"at most {rule.max_length}" in allowed[path]
    assert checked > 200
    assert "| 1e-06 to 0.5 |" in rows["analysis.alpha"] and "| 2 to 8 [arms.<id>] tables |" in rows["arms"]


def test_the_shared_bounds_are_explained_under_the_field_reference() -> None:
    from simulate.design import fields as scenario

    table = markdown()
    for name in ("FOLLOW_UP_MONTHS_MAX", "CALENDAR_MONTHS_MAX", "AGE_YEARS_MAX", "MAX_VISITS", "MAX_LOOKS"):
        line = next(line for line in table.splitlines() if line.startswith(f"* `{name}` = "))
        assert len(line) > len(f"* `{name}` = {getattr(scenario, name)}: ") + 20, line
