"""The documentation's generated pages (run by the MkDocs ``gen-files`` plugin at every build):
the scenario field reference from the models, and the validation tables from the tests'
reference values. Nothing here is written to disk: the pages exist only in the build."""

from __future__ import annotations

import sys
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from simulate.design.reference import markdown  # noqa: E402
from validation import page as validation_page  # noqa: E402

FIELDS_INTRO = """# Scenario fields

Every field a scenario file (TOML) can set, generated from the scenario models: its default, the
values allowed (the bounds the loader checks, so a value outside them is refused with one line
naming the field, the value and what is allowed) and what it means. A field left out takes its
default; `base = "other.toml"` inherits another file's fields. Where each default comes from is
[Sources of the defaults](../guide/sources.md); how to write a file, [Write a
scenario](../howto/write-a-scenario.md).

"""

with mkdocs_gen_files.open("reference/scenario-fields.md", "w") as f:
    f.write(FIELDS_INTRO + markdown() + "\n")

with mkdocs_gen_files.open("validation/comparisons.md", "w") as f:
    f.write(validation_page())

# the changelog, its links to documentation pages made relative to the site's root
changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
with mkdocs_gen_files.open("changelog.md", "w") as f:
    f.write(changelog.replace("](docs/pages/", "]("))
