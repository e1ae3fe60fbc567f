"""``robustloss review RUN_DIR`` (write the review page) and ``robustloss apply-review``.

``review`` (re)writes ``review.html`` and ``review/`` into a run folder
(:func:`robustloss.review.page.write_review`) and the report beside it, so run folders
made before the review page existed get one too. ``apply-review RUN_DIR review.csv --out
FILE`` validates every row of the exported review and writes the corrected labels in the
input's own form (:func:`robustloss.review.apply.apply_review`); a bad row is a
``ValueError`` (exit status 2, every bad row listed) and nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from robustloss._io import json_text
from robustloss.report.run.gallery import write_report
from robustloss.review.apply import apply_review
from robustloss.review.page import write_review

__all__ = ["apply_review_command", "register", "review_command"]

_FORMS = {
    "labels-npy": "int64 labels of the run's training set, in index order",
    "dataset-npz": "the run's training images with the corrected labels",
    "npz": "the input .npz with corrected labels",
    "manifest": "the manifest with corrected `label` and a `label_original` column",
    "relabel-csv": "a relabel list path,label,label_original (a manifest)",
}


def _on_run_dir(
    subparsers: argparse._SubParsersAction, name: str, func: Any, *, help: str, description: str
) -> argparse.ArgumentParser:
    """A sub-command whose first argument is a run folder (both commands here)."""
    p = subparsers.add_parser(name, help=help, description=description)
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.set_defaults(func=func)
    return p


def register(subparsers: argparse._SubParsersAction) -> None:
    _on_run_dir(
        subparsers,
        "review",
        review_command,
        help="(re)write a run folder's review page (review.html)",
        description="Write review.html and review/ (the suspects and their images) into a "
        "run folder, and its report. Open review.html in a browser: no server needed.",
    )
    p = _on_run_dir(
        subparsers,
        "apply-review",
        apply_review_command,
        help="turn an exported review.csv into corrected labels",
        description="Check every row of REVIEW_CSV against the run, then write the "
        "corrected labels in the input's form: labels .npy or images + labels .npz (built-in "
        "dataset), .npz or "
        ".npy (an .npz input), the manifest with a label_original column (a manifest "
        "input), or a relabel list CSV that `robustloss detect --data` reads (an image "
        "folder). Nothing is written when any row is bad.",
    )
    p.add_argument("review_csv", metavar="REVIEW_CSV")
    p.add_argument("--out", required=True, metavar="FILE", help="where to write the labels")
    p.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def review_command(args: argparse.Namespace) -> int:
    written = write_review(args.run_dir)
    report = write_report(args.run_dir)
    print(f"review page: {written['review']}")
    print(f"report: {report['report']}")
    return 0


def apply_review_command(args: argparse.Namespace) -> int:
    result = apply_review(args.run_dir, args.review_csv, args.out, overwrite=args.overwrite)
    if args.json:
        print(json_text(result.to_dict()))
        return 0
    d = result.decisions
    print(
        f"robustloss apply-review: {result.reviewed} decisions (accept {d['accept']}, keep "
        f"{d['keep']}, relabel {d['relabel']}, unsure {d['unsure']}) of {result.n} examples: "
        f"{result.changed} labels changed"
    )
    for pair, count in list(result.changes.items())[:10]:
        print(f"  {pair}: {count}")
    if len(result.changes) > 10:
        print(f"  ... and {len(result.changes) - 10} more class pairs")
    print(f"wrote {result.out} ({_FORMS[result.form]})")
    if result.form != "labels-npy" and result.out.endswith((".npz", ".csv")):
        print(f"next: robustloss detect --data {result.out}", file=sys.stderr)
    return 0
