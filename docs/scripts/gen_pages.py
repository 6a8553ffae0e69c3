"""The documentation's pages computed at every build (run by the MkDocs ``gen-files`` plugin):
the validation tables from the tests' reference values, and the changelog. Nothing here is
written to disk: the pages exist only in the build. (The scenario field reference is generated
too, but kept in the repository, where it reads on its own: ``field_reference.py``.)"""

from __future__ import annotations

import sys
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))

from validation import page as validation_page  # noqa: E402

with mkdocs_gen_files.open("validation/comparisons.md", "w") as f:
    f.write(validation_page())

# the changelog, its links to documentation pages made relative to the site's root
changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
with mkdocs_gen_files.open("changelog.md", "w") as f:
    f.write(changelog.replace("](docs/pages/", "]("))

# the iframe-worker shim (npm's iframe-worker, fetched by `make docs`), which lets search run in
# the site opened from disk; without it the site works but searches only when served
SHIM = ROOT / ".ci" / "node" / "node_modules" / "iframe-worker" / "shim" / "index.js"
if SHIM.is_file():
    with mkdocs_gen_files.open("assets/javascripts/iframe-worker-shim.js", "w") as f:
        f.write(SHIM.read_text(encoding="utf-8"))
