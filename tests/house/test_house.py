"""The house rules that keep the package easy to live in, checked on the source itself:
no robustloss import inside a function without a comment saying why, no module over
MAX_MODULE_LINES lines without a one-line reason at its top, no function over
MAX_FUNCTION_LINES lines, no top-level name defined twice, and a docstring in every
package's ``__init__.py`` saying what the package is (the import contracts themselves are
.importlinter's, run by ``make lint``)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "robustloss"
MODULES = sorted(SRC.rglob("*.py"))
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 80
#: A long module says why at its top, as a comment line starting with this.
REASON = re.compile(r"^# Long module: \S.{10,}$", re.M)


def _rel(path: Path) -> str:
    return str(path.relative_to(SRC.parent))


def test_the_package_has_modules():
    assert len(MODULES) > 50, MODULES  # the checks below must not pass on an empty tree


def _imports_robustloss(node: ast.AST) -> bool:
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("robustloss")
    if isinstance(node, ast.Import):
        return any(a.name.startswith("robustloss") for a in node.names)
    return False


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_robustloss_imports_inside_functions_say_why(path: Path):
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    bare = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(func):
            if not _imports_robustloss(node):
                continue
            here = lines[node.lineno - 1]
            above = lines[node.lineno - 2].strip() if node.lineno > 1 else ""
            if "#" not in here and not above.startswith("#"):
                bare.append(f"{_rel(path)}:{node.lineno}: {here.strip()}")
    assert not bare, "robustloss imported inside a function with no comment why:\n" + "\n".join(
        bare
    )


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_long_modules_say_why(path: Path):
    text = path.read_text()
    n = len(text.splitlines())
    if n > MAX_MODULE_LINES:
        head = "\n".join(text.splitlines()[:40])
        assert REASON.search(head), (
            f"{_rel(path)} has {n} lines (> {MAX_MODULE_LINES}): split it by concern, or put "
            "a line '# Long module: <why>' in its first 40 lines"
        )


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_function_is_long(path: Path):
    tree = ast.parse(path.read_text())
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert not long, f"{_rel(path)}: functions over {MAX_FUNCTION_LINES} lines: {long}"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_module_defines_a_name_twice(path: Path):
    """A second top-level def or class of one name silently replaces the first (an edit
    applied twice): the first copy is dead code."""
    tree = ast.parse(path.read_text())
    names = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"{_rel(path)} defines {twice} more than once"


@pytest.mark.parametrize(
    "path", sorted(SRC.rglob("__init__.py")), ids=lambda p: _rel(p.parent)
)
def test_every_package_says_what_it_is(path: Path):
    doc = ast.get_docstring(ast.parse(path.read_text()))
    assert doc and len(doc) > 40, f"{_rel(path)} needs a docstring: what the package is"


def test_the_reason_rule_is_enforced(tmp_path: Path):
    """The rule's own pattern: a reason line matches, a bare marker does not."""
    assert REASON.search("# Long module: one training loop's phases read top to bottom")
    assert not REASON.search("# Long module:")
