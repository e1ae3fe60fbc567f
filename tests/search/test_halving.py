"""The candidates' training in rungs and the halving between them
(robustloss.search.halving): resumed rungs, the probe, the warm-up, the scores of a rung, the
ties, and candidates that fail."""

from __future__ import annotations

import math

import numpy as np
import pytest

from robustloss.search.candidates import DEFAULT_CANDIDATE, Candidate, candidate_grid
from robustloss.search.halving import _ranked_indices
from robustloss.search.plan import _split, probe_positions
from robustloss.search.results import CandidateResult
from robustloss.search.search import select_settings
from robustloss.train import predict_proba, train
from search_fakes import noisy_toy, tiny_train_config

# ----- the rungs ---------------------------------------------------------------------------


def test_rung_two_resumes_exactly_where_rung_one_stopped():
    """A kept candidate's curve is the one training it alone for E epochs gives."""
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    sel = select_settings(images, labels, train_config=cfg, quiet=True)
    kept = next(r for r in sel.results if r.status in ("kept", "chosen"))
    train_idx, held_idx = _split(labels, 0.1, cfg.seed)
    c = kept.candidate
    alone = train(
        tiny_train_config(loss=c.loss, loss_params=c.loss_params(), delay=c.delay, test_every=1),
        images[train_idx], labels[train_idx], test_images=images[held_idx],
        test_labels=labels[held_idx], num_classes=3, quiet=True,
    )  # fmt: skip
    assert tuple(h["test_acc"] for h in alone.history) == kept.curve
    assert all(h["probe_acc"] is None for h in alone.history)  # no probe asked for


def test_the_gaps_training_side_is_the_eval_mode_fit_of_a_probe_of_the_examples_trained_on():
    """train_curve is the accuracy, in eval mode after every epoch, of a sample (as many as
    are held out) of the examples the candidates train on, vs their labels."""
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    sel = select_settings(images, labels, train_config=cfg, criterion="holdout-gap", quiet=True)
    kept = next(r for r in sel.results if r.status == "chosen")
    train_idx, held_idx = _split(labels, 0.1, cfg.seed)
    probe = probe_positions(train_idx.size, held_idx.size, cfg.seed)
    assert probe.size == held_idx.size and np.unique(probe).size == probe.size
    c = kept.candidate
    alone = train(
        tiny_train_config(loss=c.loss, loss_params=c.loss_params(), delay=c.delay, test_every=1),
        images[train_idx], labels[train_idx], test_images=images[held_idx],
        test_labels=labels[held_idx], num_classes=3, probe=probe, quiet=True,
    )  # fmt: skip
    assert tuple(h["probe_acc"] for h in alone.history) == kept.train_curve
    # The probe is scored in eval mode: it is what the model predicts for those examples.
    pred = predict_proba(alone.model, images[train_idx][probe]).argmax(axis=1)
    assert kept.train_curve[-1] == pytest.approx(np.mean(pred == labels[train_idx][probe]))


def test_one_loss_search_without_cross_entropy_trains_its_own_warm_up():
    """--cutoff auto: only PZ candidates, whose delays start from a cross-entropy warm-up
    the search trains itself (and counts)."""
    images, labels, _ = noisy_toy()
    sel = select_settings(
        images, labels, train_config=tiny_train_config(epochs=6), loss="pz", quiet=True
    )
    assert {r.candidate.loss for r in sel.results} == {"pz"}
    assert all(len(r.curve) >= 3 for r in sel.results if r.ok)  # the warm-up's epochs included
    assert sel.sample_epochs == pytest.approx(sel.plan.search_cost)
    assert sel.settings()["loss"] == "pz" and sel.settings()["delay"] in (1, 2)


def test_cl_cleaned_is_computed_for_every_scored_candidate():
    images, labels, _ = noisy_toy()
    sel = select_settings(
        images, labels, train_config=tiny_train_config(), criterion="cl-cleaned", quiet=True
    )
    assert all(r.cl_cleaned is not None for r in sel.results if r.ok)
    assert sel.criterion == "cl-cleaned" and "highest cl-cleaned" in sel.why


def test_ties_go_to_the_default_setting():
    results = [
        CandidateResult(c, "kept", 2, (0.8, 0.8), 0.8, 1, None)
        for c in candidate_grid(4)
    ]
    order = _ranked_indices(results, range(len(results)), "holdout-acc")
    assert results[order[0]].candidate == DEFAULT_CANDIDATE



# ----- failures ----------------------------------------------------------------------------


def _trainer_failing(name: str, how: str):
    def trainer(cfg, *args, **kwargs):
        candidate = Candidate(cfg.loss, tuple(sorted(cfg.loss_params.items())), cfg.delay)
        if candidate.name != name:
            return train(cfg, *args, **kwargs)
        if how == "raise":
            raise RuntimeError("CUDA out of memory (simulated)")
        result = train(cfg, *args, **kwargs)
        if how == "nan":
            result.history[-1]["train_loss"] = math.nan
        else:  # collapse: a model that always predicts class 0
            model = result.model
            with np.errstate(all="ignore"):
                for p in model.parameters():
                    p.data.zero_()
            last = list(model.parameters())[-1]  # the final layer's bias
            last.data[0] = 10.0
        return result

    return trainer


@pytest.mark.parametrize(
    ("how", "status", "reason"),
    [
        ("nan", "diverged", "not finite"),
        ("collapse", "collapsed", "predicts class 0"),
        ("raise", "failed", "RuntimeError"),
    ],
)
def test_a_failing_candidate_is_recorded_and_skipped(how, status, reason):
    images, labels, _ = noisy_toy()
    sel = select_settings(
        images, labels, train_config=tiny_train_config(), quiet=True,
        trainer=_trainer_failing("blurry gamma=0.4", how),
    )  # fmt: skip
    row = next(r for r in sel.table() if r["candidate"] == "blurry gamma=0.4")
    assert row["status"] == status and reason in row["reason"]
    assert sel.chosen.name != "blurry gamma=0.4"
    assert "failed (skipped)" in sel.why
