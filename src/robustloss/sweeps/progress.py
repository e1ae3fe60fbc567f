"""How far a sweep is, and how long the rest should take, from its own measured trials.

A trial's cost is counted in fold-epochs (:func:`robustloss.sweeps.warmup.trial_epochs`:
epochs x models; a search, its budget of at most ``MAX_RATIO`` fixed runs, so the estimate
is an upper bound where searches remain). The measured rate is the finished trials' wall
seconds over their fold-epochs; the time left is that rate times the fold-epochs of the
trials not done. Trial times are each trial's own wall time, so trials that ran side by
side (two workers on two cores) each took longer: the wall time left is the trial time
left divided by the number of trials running at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from robustloss.run.config import RunConfig
from robustloss.sweeps.results import StoredTrial
from robustloss.sweeps.warmup import trial_epochs

__all__ = ["Progress", "sweep_progress"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Progress:
    """A sweep's trials done out of its total, and the measured rate behind the estimate.

    Attributes:
        total, done, failed: trial counts (failed trials count as not done).
        epochs_done, epochs_left: fold-epochs of the timed done trials (the fixed-setting
            ones where there are any) and of the trials not done.
        seconds_done: those timed trials' wall seconds, summed (None where none recorded).
        unplanned: trials whose stored config no longer validates (e.g. a retired
            protocol): counted in ``total`` and ``done``, left out of the fold-epochs.
    """

    total: int
    done: int
    failed: int
    epochs_done: int
    epochs_left: int
    seconds_done: float | None
    unplanned: int = 0

    @property
    def seconds_per_epoch(self) -> float | None:
        """Measured wall seconds per fold-epoch of one trial, None before a trial is done."""
        if not self.seconds_done or not self.epochs_done:
            return None
        return self.seconds_done / self.epochs_done

    @property
    def seconds_left(self) -> float | None:
        """Trial time the rest should take (one trial at a time), None before a trial is
        done; 0 when nothing is left."""
        if self.epochs_left == 0:
            return 0.0
        rate = self.seconds_per_epoch
        return None if rate is None else rate * self.epochs_left

    def line(self) -> str:
        """One line for a person: done / total, and the time left where it is measured."""
        head = f"{self.done}/{self.total} trials done"
        if self.failed:
            head += f" ({self.failed} failed)"
        if self.unplanned:
            head += f" ({self.unplanned} whose config no longer validates, not timed)"
        if self.epochs_left == 0:
            return head + ", nothing left to run"
        left = self.seconds_left
        if left is None:
            return head + f"; {self.epochs_left} fold-epochs left, no trial done yet to time them"
        return (
            head
            + f"; about {_hours(left)} of trial time left ({self.epochs_left} fold-epochs at "
            f"the measured {self.seconds_per_epoch:.1f} s each; divide by the trials that "
            "run at once)"
        )


def sweep_progress(trials: Sequence[StoredTrial]) -> Progress:
    """The :class:`Progress` of ``trials`` (a sweep's, as :meth:`ResultStore.trials` lists
    them)."""
    configs = {t.hash: _config_or_none(t) for t in trials}
    planned = [t for t in trials if configs[t.hash] is not None]
    rest = [t for t in planned if not t.done]
    timed = [t for t in planned if t.done and t.seconds is not None]
    # A search's fold-epochs are its budget, not what it trained: time by the fixed trials
    # where there are any.
    fixed = [t for t in timed if not configs[t.hash].chooses_settings]
    timed = fixed or timed
    return Progress(
        total=len(trials),
        done=sum(t.done for t in trials),
        failed=sum(t.status == "failed" for t in trials),
        epochs_done=sum(trial_epochs(configs[t.hash]) for t in timed),
        epochs_left=sum(trial_epochs(configs[t.hash]) for t in rest),
        seconds_done=sum(t.seconds for t in timed) if timed else None,
        unplanned=len(trials) - len(planned),
    )


def _config_or_none(trial: StoredTrial) -> RunConfig | None:
    """The trial's RunConfig, built once; None where its stored config no longer validates
    (the progress line must not stop ``robustloss results`` from reading an old database)."""
    try:
        return trial.run_config()
    except ValueError:
        return None


def _hours(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
