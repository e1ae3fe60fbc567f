"""Writes reference/cli.md at build time from the CLI's own argparse parser (mkdocs-gen-files).

Every sub-command (and sub-sub-command, e.g. ``data fetch``) gets its ``format_help()``
verbatim, so the page cannot drift from the flags: a flag added, renamed or removed in
``robustloss.cli`` changes the page on the next ``mkdocs build``.
"""

from __future__ import annotations

import argparse
import os

import mkdocs_gen_files

from robustloss.cli import build_parser

# argparse wraps help at the terminal's width (read when help is formatted): fix it, so that
# the page is the same wherever it is built.
os.environ["COLUMNS"] = "100"


def _subcommands(parser: argparse.ArgumentParser):
    """(name, parser, one-line help) of each sub-command, in ``--help`` order."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield name, sub, helps.get(name, "")


def _walk(parser: argparse.ArgumentParser, prefix: str):
    for name, sub, summary in _subcommands(parser):
        path = f"{prefix} {name}"
        yield path, sub, summary
        yield from _walk(sub, path)


def _block(text: str) -> str:
    return "```text\n" + text.rstrip() + "\n```\n"


def render() -> str:
    parser = build_parser()
    commands = list(_walk(parser, "robustloss"))
    out = [
        "# Command line reference\n",
        "Generated at build time from the parser in `robustloss.cli` (`docs/gen_cli.py`): "
        "each section is that command's `--help`, verbatim.\n",
        "| command | what it does |",
        "|---|---|",
    ]
    for path, _, summary in commands:
        anchor = path.replace(" ", "-")
        out.append(f"| [`{path}`](#{anchor}) | {summary.replace('|', chr(92) + '|')} |")
    out += ["", "## `robustloss` { #robustloss }\n", _block(parser.format_help())]
    for path, sub, _ in commands:
        anchor = path.replace(" ", "-")
        level = "#" * min(path.count(" ") + 1, 4)
        out += [f"{level} `{path}` {{ #{anchor} }}\n", _block(sub.format_help())]
    return "\n".join(out)


with mkdocs_gen_files.open("reference/cli.md", "w") as page:
    page.write(render())
