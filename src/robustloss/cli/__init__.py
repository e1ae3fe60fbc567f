"""The ``robustloss`` command line: one sub-command module per concern.

Each module in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
sub-commands and sets ``func`` on their parsers; ``func(args) -> int`` is the exit status.
Bad input anywhere below (a ``ValueError``, which includes ``robustloss.data.DataError``)
is reported as one line on stderr with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from robustloss._version import __version__

#: The sub-command modules, by name, in ``--help`` order. Named rather than imported here not
#: to save time (building the parser imports every one, and ``robustloss --help`` imports
#: torch through ``robustloss.cli.run`` anyway) but so that a test can register a subset.
COMMAND_MODULES: tuple[str, ...] = (
    "robustloss.cli.plot",
    "robustloss.cli.data",
    "robustloss.cli.train",
    "robustloss.cli.run",
    "robustloss.cli.review",
    "robustloss.cli.sweep",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="robustloss",
        description=(
            "Train models that ignore wrong labels (Blurry, Piecewise-zero and peer robust "
            "losses) and find the wrong labels with Confident Learning."
        ),
    )
    parser.add_argument("--version", action="version", version=f"robustloss {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    try:
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe is reported here, not at exit
        return status
    except ValueError as exc:
        print(f"robustloss {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"robustloss {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout was closed early (e.g. `robustloss sweep ... --dry-run | head`): stop quietly,
        # and point stdout at /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
