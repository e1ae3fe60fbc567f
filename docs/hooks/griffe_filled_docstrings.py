"""A griffe extension: docstrings that ``robustloss`` fills in at import, read as filled.

The losses write their shared docstring sections once (``robustloss.losses._docs``): a
docstring names a section on a line of its own (``$tensor_args``) and ``fill_doc`` puts the
text there when the module is imported. griffe reads the source, so it would see the
placeholders; this extension replaces each docstring that holds one with the object's
runtime ``__doc__``. Everything else stays static analysis (nothing else is imported).

It also drops the Sphinx roles the docstrings use (``:func:`train```, ``:math:`p_t```), which
Markdown would print literally: what is left is the role's text as inline code.
"""

from __future__ import annotations

import importlib
import inspect
import re
from typing import Any

import griffe

_PLACEHOLDER = re.compile(r"^\s*\$\w+\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?[a-z]+:(?=`)")


def _objects(obj: griffe.Object):
    for member in obj.members.values():
        if member.is_alias:
            continue
        yield member
        yield from _objects(member)


def _runtime(obj: griffe.Object) -> Any:
    module = importlib.import_module(obj.module.path)
    found: Any = module
    for part in obj.path[len(obj.module.path) + 1 :].split("."):
        if part:
            found = getattr(found, part)
    return found


class FilledDocstrings(griffe.Extension):
    def on_package(self, *, pkg: griffe.Module, loader: griffe.GriffeLoader, **kwargs: Any) -> None:
        if pkg.name != "robustloss":
            return
        for obj in [pkg, *_objects(pkg)]:
            doc = obj.docstring
            if doc is None:
                continue
            text = doc.value
            if _PLACEHOLDER.search(text):
                text = inspect.getdoc(_runtime(obj)) or ""
                if _PLACEHOLDER.search(text):
                    raise RuntimeError(f"{obj.path}: its docstring placeholders were not filled")
            text = _ROLE.sub("", text)
            if text == doc.value:
                continue
            obj.docstring = griffe.Docstring(
                text,
                lineno=doc.lineno,
                endlineno=doc.endlineno,
                parent=obj,
                parser=doc.parser,
                parser_options=doc.parser_options,
            )
