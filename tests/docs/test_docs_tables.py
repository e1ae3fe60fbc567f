"""The README's and docs' markdown tables (docs/ and every folder below it) are well formed:
a header, then a separator of as many columns, then rows of as many columns. The evidence
lives in these tables; a table broken by an edit renders as loose text, and nothing else
would notice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_SEPARATOR = re.compile(r"^\|(\s*:?-{3,}:?\s*\|)+$")


def _cells(line: str) -> int:
    """Columns of a table line (an escaped pipe ``\\|`` is not a border)."""
    return len(re.split(r"(?<!\\)\|", line.strip())) - 2


def tables(text: str) -> list[tuple[int, list[str]]]:
    """(first line number, lines) of each run of lines starting with ``|`` (indented tables
    in list items included), outside fenced code blocks."""
    out: list[tuple[int, list[str]]] = []
    fenced = False
    current: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("```"):
            fenced = not fenced
        if not fenced and line.startswith("|"):
            if not current:
                start = number
            current.append(line)
            continue
        if current:
            out.append((start, current))
            current = []
    if current:
        out.append((start, current))
    return out


def problems(text: str) -> list[str]:
    found = []
    for start, lines in tables(text):
        if len(lines) < 2 or not _SEPARATOR.match(lines[1]):
            found.append(f"line {start}: a table without a separator line under its header")
            continue
        if any(_SEPARATOR.match(line) for line in lines[2:]):
            found.append(f"line {start}: a second separator line inside the table")
        width = _cells(lines[0])
        for offset, line in enumerate(lines[1:], 1):
            if _cells(line) != width:
                found.append(
                    f"line {start + offset}: {_cells(line)} columns, the header has {width}"
                )
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_table_is_well_formed(path):
    assert problems(path.read_text(encoding="utf-8")) == []


def test_the_check_catches_a_table_broken_by_an_edit():
    broken = "| a | b |\n| 1 | 2 |\n\ntext\n\n|---|---|\n| c | d |\n|---|---|\n"
    assert problems(broken) == [
        "line 1: a table without a separator line under its header",
        "line 6: a table without a separator line under its header",
    ]
    assert problems("| a | b |\n|---|---|\n| 1 | 2 | 3 |\n") == [
        "line 3: 3 columns, the header has 2"
    ]
    assert problems("```\n| not a table\n```\n| a `x \\| y` |\n|---|\n| 1 |\n") == []
