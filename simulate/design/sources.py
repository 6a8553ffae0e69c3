"""Sources of a scenario's figures: the comments written beside them in its TOML file.

Every literature figure or assumption in a scenario file carries its source as a comment
(``key = value  # source``, or comment lines just above the key). The report's assumptions
table and the documentation's scenario field reference both read them from here.
"""

from __future__ import annotations

import re
from pathlib import Path


def _inline_comment(rest: str) -> str:
    quote = None
    for i, ch in enumerate(rest):
        if quote:
            if ch == quote and rest[i - 1] != "\\":
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return rest[i + 1:].strip()
    return ""


def scenario_comments(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[str, dict[str, str]]:
    """(the file's opening comment, {dotted key: its comment}) of a scenario file and its ``base``.

    A key's comment is its inline comment, or else the comment lines just above it."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    comments: dict[str, str] = {}
    header: list[str] = []
    base = re.search(r'^base\s*=\s*"([^"]+)"', text, re.MULTILINE)
    if base:
        from simulate.design.loader import locate_base

        found = locate_base(path, base[1])     # a file beside this one, else a shipped scenario
        if found is not None and found.resolve() not in _seen + (path.resolve(),):
            try:
                comments.update(scenario_comments(found, _seen + (path.resolve(),))[1])
            except OSError:
                pass
    section, pending, in_header = "", [], True
    for raw in text.splitlines():
        s = raw.strip()
        if not s:
            pending, in_header = [], False
            continue
        if s.startswith("#"):
            line = s.lstrip("#").strip()
            (header if in_header else pending).append(line)
            continue
        in_header = False
        m = re.match(r"^\[\s*([^\]]+?)\s*\]", s)
        if m:
            section, pending = ".".join(p.strip().strip('"') for p in m[1].split(".")), []
            continue
        m = re.match(r'^("[^"]+"|[A-Za-z0-9_-]+)\s*=\s*(.*)$', s)
        if m:
            key = m[1].strip('"')
            full = f"{section}.{key}" if section and section != "sweep" else key
            if section == "sweep":
                full = f"sweep.{key}"
            comments[full] = _inline_comment(m[2]) or " ".join(pending)
        pending = []
    return " ".join(header), comments
