"""What a sweep run plans and did (:class:`SweepResult`), and the ``--dry-run`` listing.

The listing shows one line per trial (its status, loss, delay and the fold-epochs it will
cost, with ``Wn``/``Wn*`` for the shared warm-up it starts from or is), then the epoch
accounting of :mod:`robustloss.sweeps.warmup`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from robustloss.run.config import FLOAT_LOSS_FIELDS, RunConfig
from robustloss.sweeps.warmup import WarmupPlan, trial_epochs

__all__ = ["PLAN_COLUMNS", "SweepResult", "format_plan", "plan_rows", "text_table"]

PLAN_COLUMNS: tuple[str, ...] = (
    "hash", "status", "data", "noise", "loss", "delay", "seed", "epochs", "warmup"
)


@dataclass
class SweepResult:
    """What a sweep run did. ``skipped``: trials already done before it started."""

    spec: str
    db_path: Path
    total: int
    skipped: int = 0
    done: int = 0
    failed: int = 0
    remaining: int = 0
    seconds: float = 0.0
    epochs_alone: int = 0
    epochs: int = 0
    warmups: int = 0
    warmup_kinds: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.remaining == 0

    def planned(self, todo: int, plan: WarmupPlan) -> None:
        """Record the plan: ``todo`` of the ``total`` trials to run, sharing as ``plan`` says."""
        self.skipped = self.total - todo
        self.remaining = todo
        self.epochs_alone, self.epochs = plan.epochs_alone, plan.epochs_shared
        self.warmups = len(plan.groups)
        self.warmup_kinds = dict(Counter(g.kind for g in plan.groups))

    def finished(self, trial_hash: str, ok: bool, error: str | None) -> None:
        """Count one trial's record (the last line of its error when it failed)."""
        if ok:
            self.done += 1
        else:
            self.failed += 1
            self.failures.append((trial_hash, _last_line(error)))
        self.remaining -= 1


def _last_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[-1] if lines else ""


def _describe(config: RunConfig) -> str:
    params = [f"{k}={getattr(config, k)}" for k in FLOAT_LOSS_FIELDS
              if getattr(config, k) is not None]
    return " ".join([config.loss, *params])


def plan_rows(
    trials: Sequence[tuple[str, RunConfig]],
    todo: set[str],
    status: dict[str, str],
    plan: WarmupPlan,
) -> list[dict[str, Any]]:
    """One row of :data:`PLAN_COLUMNS` per ``(hash, config)`` trial."""
    groups = {g.key: i + 1 for i, g in enumerate(plan.groups)}
    rows = []
    for h, config in trials:
        group = plan.assignment.get(h)
        cost = trial_epochs(config)
        warmup = ""
        if group is not None and h == group.source:
            warmup = f"W{groups[group.key]}*"
        elif group is not None:
            cost -= group.models * config.delay
            warmup = f"W{groups[group.key]}"
        rows.append({
            "hash": h[:10],
            "status": status.get(h, "new"),
            "data": config.dataset or config.data,
            "noise": config.noise,
            "loss": _describe(config),
            "delay": config.delay,
            "seed": config.seed,
            "epochs": cost if h in todo else 0,
            "warmup": warmup,
        })
    return rows


def text_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns separated by two spaces (cells shown with ``str``)."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    lines = [list(header), *cells]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


_WARMUP_KINDS: tuple[tuple[str, str], ...] = (
    ("trial", "CE trial(s) of the sweep run with checkpoints (epochs counted once)"),
    ("on disk", "complete on disk (reused: no epochs)"),
    ("run", "dedicated CE run(s) (their epochs included)"),
)


def format_plan(result: SweepResult) -> str:
    """The dry-run listing: one line per trial, then the epoch accounting."""
    lines = [text_table(PLAN_COLUMNS, [[row[c] for c in PLAN_COLUMNS] for row in result.plan])]
    todo = result.total - result.skipped
    lines.append("")
    lines.append(
        f"{result.total} trials: {result.skipped} done, {todo} to run "
        f"(epochs are fold-epochs: epochs x models per trial)"
    )
    if result.warmups:
        kinds = result.warmup_kinds
        parts = [f"{kinds[kind]} {text}" for kind, text in _WARMUP_KINDS if kinds.get(kind)]
        lines.append(f"shared warm-ups: {result.warmups}: {'; '.join(parts)}")
        lines.append("warmup: Wn = starts from warm-up n at its delay; Wn* = is warm-up n")
    if result.epochs_alone:
        lines.append(
            f"epochs: {result.epochs} with shared warm-ups, {result.epochs_alone} with each "
            f"trial run alone: {result.epochs_alone - result.epochs} saved, "
            f"{result.epochs / result.epochs_alone:.2f}x"
        )
    return "\n".join(lines)
