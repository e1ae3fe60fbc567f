"""Docstring sections that the losses repeat verbatim, written once.

Every functional documents ``input``, ``target``, ``reduction`` and ``validate_args`` the
same way, and most share their ``Shape`` section and example inputs; every Module likewise.
A docstring names a section on a line of its own, ``$name``, and :func:`fill_doc` puts the
section there, indented as that line, when the module is imported; the filled docstrings
read as if written out in full.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from typing import TypeVar

_T = TypeVar("_T", bound=Callable[..., object])


def _block(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


_VALIDATE_ARG = _block(
    """
    validate_args: check that the values of ``target`` lie in ``[0, C)`` (reads them:
        a device-to-host sync on a GPU); ``False`` for labels checked once already.
    """
)

_SECTIONS: dict[str, str] = {
    # The functionals (robustloss.losses.functional).
    "tensor_args": _block(
        """
        input: logits.
        target: class indices in ``[0, C)``.
        """
    ),
    "validate_arg": _VALIDATE_ARG,
    "reduction_args": 'reduction: ``"mean"``, ``"sum"`` or ``"none"``.\n' + _VALIDATE_ARG,
    "shape": _block(
        """
        Shape:
            - Input: :math:`(N, C)`.
            - Target: :math:`(N,)`, integer.
            - Output: scalar, or :math:`(N,)` if ``reduction="none"``.
        """
    ),
    "example_inputs": _block(
        """
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> target = torch.randint(0, 10, (8,))
        """
    ),
    # The Modules (robustloss.losses.modules).
    "module_args": _block(
        """
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.
        validate_args: check the target's values in every call (default ``True``).
        """
    ),
    "module_target_output": _block(
        """
        - Target: :math:`(N,)` class indices.
        - Output: scalar, or :math:`(N,)` if ``reduction="none"``.
        """
    ),
    "module_example": _block(
        """
        >>> logits = torch.randn(8, 10, requires_grad=True)
        >>> loss = criterion(logits, torch.randint(0, 10, (8,)))
        >>> loss.backward()
        """
    ),
}

_PLACEHOLDER = re.compile(r"^( *)\$(\w+)$", flags=re.MULTILINE)


def fill_doc(obj: _T) -> _T:
    """Put the shared sections into ``obj``'s docstring, at its ``$name`` lines (a decorator).

    An unknown name raises ``KeyError`` when the module is imported.
    """
    if obj.__doc__:
        obj.__doc__ = _PLACEHOLDER.sub(
            lambda m: textwrap.indent(_SECTIONS[m.group(2)], m.group(1)), obj.__doc__
        )
    return obj
