"""The README stays a front door (at most 220 lines), and every relative link in it and in
the documentation pages (docs/ and every folder below it) points at a file that exists.

`mkdocs build --strict` checks the site's own links and anchors; this also covers the
README, which the site does not build, and runs without MkDocs."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
README_MAX_LINES = 220

#: Pages written at build time (mkdocs-gen-files, ``docs/hooks/``), not kept in the tree:
#: a link to one is a link to a page that will exist.
GENERATED = {ROOT / "docs" / "reference" / "cli.md"}

# [text](target) and ![alt](target), target optionally in <...>, optionally with a "title".
_INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(?:<([^>]*)>|([^)\s]+))(?:\s+\"[^\"]*\")?\s*\)"
)
# [label]: target
_DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_CODE_SPAN = re.compile(r"(`+).*?\1")


def links(text: str) -> list[tuple[int, str]]:
    """(line number, target) of each Markdown link and image outside code (fenced blocks
    and inline code spans)."""
    found = []
    fenced = False
    for number, raw in enumerate(text.splitlines(), 1):
        if raw.strip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = _CODE_SPAN.sub("", raw)
        found += [(number, m.group(1) or m.group(2)) for m in _INLINE.finditer(line)]
        definition = _DEFINITION.match(line)
        if definition:
            found.append((number, definition.group(1)))
    return found


def broken(path: Path) -> list[str]:
    out = []
    for number, target in links(path.read_text(encoding="utf-8")):
        if target.startswith("#") or _SCHEME.match(target):
            continue  # an anchor on the same page (mkdocs checks those), or a URL
        file = unquote(target.split("#", 1)[0].split("?", 1)[0])
        if not file:
            continue
        resolved = (path.parent / file).resolve()
        if file.endswith("/"):
            resolved = resolved / "index.md"
        if not (resolved.exists() or resolved in GENERATED):
            out.append(f"line {number}: {target}")
    return out


def test_the_readme_is_a_front_door():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"


@pytest.mark.parametrize("path", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_points_at_a_file(path):
    assert broken(path) == []


def test_the_check_finds_links_and_skips_code_and_urls():
    text = (
        'See [a](a.md#x), ![img](../b.png "B") and [c](<c d.md>).\n'
        "A [URL](https://example.org), an [anchor](#here), `[not](code.md)`.\n"
        "```\n[fenced](nope.md)\n```\n"
        "[ref]: defs/e.md\n"
    )
    assert links(text) == [
        (1, "a.md#x"),
        (1, "../b.png"),
        (1, "c d.md"),
        (2, "https://example.org"),
        (2, "#here"),
        (6, "defs/e.md"),
    ]


def test_the_check_catches_a_broken_link(tmp_path):
    (tmp_path / "there.md").write_text("x", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a) [gone](gone.md) [up](../../nowhere.png)\n", encoding="utf-8")
    assert broken(page) == ["line 1: gone.md", "line 1: ../../nowhere.png"]
