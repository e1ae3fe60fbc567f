"""Successive halving over the candidates (Jamieson & Talwalkar, AISTATS 2016; Li et al.,
"Hyperband", JMLR 2018): every candidate trains rung 1, r = ceil(E / 2) epochs, its accuracy
on the noisy held-out split measured after every epoch; the best ceil(C / 3) of the C by the
criterion train on to E epochs (resumed from their checkpoints, not restarted).

Cross entropy's run is the shared warm-up: a candidate with a delay d starts from cross
entropy's checkpoint after d epochs (bitwise the run it would have been;
:mod:`robustloss.train.checkpoint`). The criteria that need a rung's candidates side by side
(cl-cleaned's shared consensus, canary-f1's wrong-label rate) are scored after each rung.

**Failures are recorded, never chosen**: a candidate whose training loss is not finite
(diverged), that predicts one class for most of the held-out split while the given labels
are spread (collapsed), or whose training raises, is marked and skipped.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustloss.detect import find_label_errors
from robustloss.search.canaries import canary_f1
from robustloss.search.candidates import DEFAULT_CANDIDATE, Candidate, _longest_delay
from robustloss.search.criteria import _gap_scores, stop_epoch
from robustloss.search.plan import EVAL_COST, SearchPlan
from robustloss.search.results import CandidateResult
from robustloss.train import TrainConfig, TrainResult, checkpoint_path, predict_proba

__all__ = ["Trainer"]

#: How a candidate is trained (replaceable in tests): ``train``'s signature.
Trainer = Callable[..., TrainResult]

# A candidate "collapsed" when one class takes more than this share of its held-out
# predictions while no class holds more than _SPREAD_SHARE of the held-out given labels.
_COLLAPSE_SHARE = 0.9
_SPREAD_SHARE = 0.5


@dataclass
class _Search:
    """The candidates' training on one split; checkpoints in ``workdir``."""

    base: TrainConfig
    x: np.ndarray
    y: np.ndarray
    x_held: np.ndarray
    y_held: np.ndarray
    probe: np.ndarray  # indices into x: re-scored in eval mode after every epoch
    k: int
    quiet: bool
    trainer: Trainer
    canaries: np.ndarray | None = None  # positions in x whose label in y was flipped (ours)
    workdir: Path | None = None
    sample_epochs: float = 0.0
    # Each candidate's held-out probabilities after its latest rung (cl-cleaned's input).
    probs: dict[int, np.ndarray] = dataclasses.field(default_factory=dict)

    def run(self, plan: SearchPlan) -> list[CandidateResult]:
        r, e = plan.rung_epochs, plan.epochs
        warmup = self._warmup(plan.candidates, r)
        results = [self._rung1(i, c, r, warmup) for i, c in enumerate(plan.candidates)]
        self._drop_checkpoints(warmup, keep=r if plan.candidates[0].loss == "ce" else None)
        results = self._score_cleaned(results, range(len(results)))
        results = _score_canaries(results, range(len(results)))
        if e <= r:  # no halving: every candidate has trained its E epochs
            return [dataclasses.replace(res, status="kept") if res.ok else res for res in results]
        ok = [i for i, res in enumerate(results) if res.ok]
        kept = sorted(_ranked_indices(results, ok, plan.criterion)[: plan.keep])
        for i in kept:
            results[i] = self._rung2(i, results[i], e)
        results = self._score_cleaned(results, [i for i in kept if results[i].ok])
        return _score_canaries(results, [i for i in kept if results[i].ok])

    @property
    def _epoch_cost(self) -> float:
        """Sample-epochs of one candidate-epoch: training, the held-out and probe passes."""
        return self.x.shape[0] + EVAL_COST * (self.x_held.shape[0] + self.probe.size)

    def _config(self, c: Candidate, epochs: int) -> TrainConfig:
        return dataclasses.replace(
            self.base, loss=c.loss, loss_params=c.loss_params(), delay=c.delay, epochs=epochs
        )

    def _dir(self, i: int | str) -> Path:
        assert self.workdir is not None
        return self.workdir / (f"candidate-{i:02d}" if isinstance(i, int) else i)

    def _warmup(self, cands: Sequence[Candidate], r: int) -> Path | None:
        """Where the cross-entropy warm-up's checkpoints are: candidate 0's run when it is
        cross entropy (trained first), else a warm-up run of the longest delay, here."""
        longest = _longest_delay(cands, r)
        if longest == 0:
            return None
        if cands[0].loss == "ce":
            return self._dir(0)
        self._log(f"cross-entropy warm-up, {longest} epoch(s)")
        cfg = self._config(Candidate("ce"), longest)
        # Scored like a candidate's epochs: the candidates resume its history as theirs.
        self.trainer(
            cfg, self.x, self.y, test_images=self.x_held, test_labels=self.y_held,
            num_classes=self.k, checkpoint_dir=self._dir("warmup"), probe=self.probe,
            quiet=True,
        )  # fmt: skip
        self.sample_epochs += longest * self._epoch_cost
        return self._dir("warmup")

    def _rung1(self, i: int, c: Candidate, r: int, warmup: Path | None) -> CandidateResult:
        resume = None
        if c.loss != "ce" and c.delay > 0 and warmup is not None:
            resume = checkpoint_path(warmup, min(c.delay, r))
        self._log(f"rung 1: {c.name}, {r} epoch(s)")
        out = self._train(i, c, r, resume=resume, save=True)
        if i > 0 or c.loss != "ce":  # candidate 0's checkpoints may be the warm-up's
            self._drop_checkpoints(self._dir(i), keep=r)
        return out

    def _rung2(self, i: int, res: CandidateResult, e: int) -> CandidateResult:
        c = res.candidate
        self._log(f"rung 2: {c.name}, on to {e} epochs")
        resume = checkpoint_path(self._dir(i), res.epochs_trained)
        out = self._train(i, c, e, resume=resume, save=False)
        return dataclasses.replace(out, status="kept") if out.ok else out

    def _drop_checkpoints(self, folder: Path | None, *, keep: int | None) -> None:
        """Delete a run's checkpoints but the one after ``keep`` epochs (rung 2 resumes it)."""
        if folder is None or not folder.is_dir():
            return
        wanted = None if keep is None else checkpoint_path(folder, keep).name
        for path in folder.glob("epoch-*.pt"):
            if path.name != wanted:
                path.unlink()

    def _train(
        self, i: int, c: Candidate, epochs: int, *, resume: Path | None, save: bool
    ) -> CandidateResult:
        cfg = self._config(c, epochs)
        try:
            result = self.trainer(
                cfg, self.x, self.y, test_images=self.x_held, test_labels=self.y_held,
                num_classes=self.k, checkpoint_dir=self._dir(i) if save else None,
                resume_from=resume, probe=self.probe, quiet=True,
            )  # fmt: skip
        except (RuntimeError, ValueError, FloatingPointError, OSError) as exc:
            return _failed(c, "failed", f"training raised {type(exc).__name__}: {exc}")
        history = result.history
        done_before = 0 if resume is None else int(resume.stem.split("-")[1])
        new_epochs = len(history) - done_before
        self.sample_epochs += new_epochs * self._epoch_cost
        bad = [h["epoch"] for h in history if not math.isfinite(float(h["train_loss"]))]
        if bad:
            return _failed(c, "diverged", f"training loss not finite at epoch {bad[0]}")
        probs = predict_proba(result.model, self.x_held)
        self.sample_epochs += EVAL_COST * self.x_held.shape[0]
        if not np.all(np.isfinite(probs)):
            return _failed(c, "diverged", "held-out probabilities not finite")
        collapse = _collapsed(probs, self.y_held, self.k)
        if collapse:
            return _failed(c, "collapsed", collapse)
        self.probs[i] = probs
        curve = tuple(float(h["test_acc"]) for h in history)
        train_curve = tuple(float(h["probe_acc"]) for h in history)
        gap = _gap_scores(curve, train_curve)
        first = min(c.delay, len(curve) - 1) if c.loss != "ce" else 0  # warm-up: not counted
        best = first + int(np.argmax(curve[first:]))  # ties: the earlier epoch
        stop = stop_epoch(curve, first=first, n_held=self.y_held.shape[0]) - 1
        recall, flagged = self._canary_shares(result.model)
        return CandidateResult(
            candidate=c,
            status="pruned",
            epochs_trained=len(history),
            curve=curve,
            holdout_acc=curve[stop],
            best_epoch=best + 1,
            cl_cleaned=None,
            train_curve=train_curve,
            holdout_gap=gap[stop],
            stop_epoch=stop + 1,
            canary_recall=recall,
            flagged_share=flagged,
        )

    def _canary_shares(self, model) -> tuple[float | None, float | None]:
        """With canaries: the share of them that Confident Learning flags on the model's
        in-sample probabilities of the whole search set, and the share of the other search
        examples it flags; (None, None) without."""
        if self.canaries is None or self.canaries.size == 0:
            return None, None
        probs = predict_proba(model, self.x)
        self.sample_epochs += EVAL_COST * self.x.shape[0]
        flags = np.zeros(self.y.shape[0], dtype=bool)
        flags[find_label_errors(self.y, probs)] = True
        others = np.ones_like(flags)
        others[self.canaries] = False
        return float(flags[self.canaries].mean()), float(flags[others].mean())

    def _score_cleaned(self, results: list[CandidateResult], indices) -> list[CandidateResult]:
        """Criterion cl-cleaned for the ok candidates among ``indices``: their accuracy on
        the held-out examples not flagged by Confident Learning for most of them."""
        idx = [i for i in indices if results[i].ok and i in self.probs]
        if not idx:
            return results
        votes = np.zeros(self.y_held.shape[0], dtype=np.int64)
        for i in idx:
            votes[find_label_errors(self.y_held, self.probs[i])] += 1
        clean = votes * 2 <= len(idx)  # flagged by at most half of them: kept
        out = list(results)
        for i in idx:
            pred = self.probs[i].argmax(axis=1)
            value = float(np.mean(pred[clean] == self.y_held[clean])) if clean.any() else None
            out[i] = dataclasses.replace(results[i], cl_cleaned=value)
        return out

    def _log(self, message: str) -> None:
        if not self.quiet:
            print(f"[robustloss] auto {message}", file=sys.stderr, flush=True)


def _score_canaries(results: list[CandidateResult], indices) -> list[CandidateResult]:
    """Criterion canary-f1 for the ok candidates among ``indices`` that have canary shares,
    estimated together (:func:`canary_f1` needs the rung's candidates side by side)."""
    idx = [i for i in indices if results[i].ok and results[i].canary_recall is not None]
    if not idx:
        return results
    f1 = canary_f1([results[i].canary_recall for i in idx], [results[i].flagged_share for i in idx])
    out = list(results)
    for i, value in zip(idx, f1, strict=True):
        out[i] = dataclasses.replace(results[i], canary_f1=value)
    return out


def _failed(c: Candidate, status: str, reason: str) -> CandidateResult:
    return CandidateResult(c, status, 0, (), None, None, None, reason)


def _collapsed(probs: np.ndarray, y_held: np.ndarray, k: int) -> str:
    """Why the predictions collapsed to one class, or "" when they did not."""
    pred = probs.argmax(axis=1)
    counts = np.bincount(pred, minlength=k)
    top = int(counts.argmax())
    share = counts[top] / pred.size
    given_share = np.bincount(y_held, minlength=k).max() / y_held.size
    if share > _COLLAPSE_SHARE and given_share <= _SPREAD_SHARE:
        return (
            f"predicts class {top} for {share:.0%} of the held-out examples (the most "
            f"frequent given label holds {given_share:.0%})"
        )
    return ""


def _value(res: CandidateResult, criterion: str) -> float:
    """The criterion's value; cl-cleaned falls back to held-out accuracy where undefined."""
    v = res.value(criterion)
    if v is None:
        v = res.holdout_acc
    return -math.inf if v is None else float(v)


def _ranked_indices(results: Sequence[CandidateResult], idx: Sequence[int], criterion: str):
    """``idx`` best first by ``criterion``; a tie goes to :data:`DEFAULT_CANDIDATE` (the
    setting one would use without a search), then to the earlier in the grid."""
    return sorted(
        idx,
        key=lambda i: (
            -_value(results[i], criterion),
            results[i].candidate != DEFAULT_CANDIDATE,
            i,
        ),
    )
