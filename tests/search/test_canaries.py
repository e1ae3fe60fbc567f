"""Canaries, wrong labels planted on purpose (robustloss.search.canaries): how many, where,
to which class (uniform or structured by a probe), the F1 estimated from them, and what the
candidates of a canary-f1 search train on."""

from __future__ import annotations

import numpy as np
import pytest

from robustloss.search.canaries import (
    CANARY_PROBE_EPOCHS,
    canary_count,
    canary_f1,
    canary_transitions,
    plant_canaries,
)
from robustloss.search.plan import _split, _subsample, plan_search
from robustloss.search.search import select_settings
from robustloss.train import train
from search_fakes import noisy_toy, tiny_train_config

# ----- criterion canary-f1: labels flipped on purpose --------------------------------------


@pytest.mark.parametrize(("n", "expected"), [(100, 10), (551, 30), (11_035, 552), (9, 0)])
def test_canary_count_is_five_percent_at_least_thirty_at_most_a_tenth(n, expected):
    assert canary_count(n) == expected


def test_canaries_are_flipped_to_another_class_reproducibly():
    labels = np.arange(600) % 3
    pos, flipped = plant_canaries(labels, num_classes=3, seed=5)
    again, flipped_again = plant_canaries(labels, num_classes=3, seed=5)
    np.testing.assert_array_equal(pos, again)
    np.testing.assert_array_equal(flipped, flipped_again)
    assert pos.size == canary_count(600) and np.all(np.diff(pos) > 0)
    assert np.all(flipped[pos] != labels[pos])  # every canary is a wrong label
    rest = np.setdiff1d(np.arange(600), pos)
    np.testing.assert_array_equal(flipped[rest], labels[rest])  # nothing else changes
    assert not np.array_equal(pos, plant_canaries(labels, num_classes=3, seed=6)[0])
    assert labels[0] == 0  # the input is not modified
    with pytest.raises(ValueError, match="at least 2 classes"):
        plant_canaries(labels, num_classes=1, seed=0)


def test_canary_f1_is_the_true_f1_when_the_most_precise_candidate_flags_only_wrong_labels():
    """w = 0.2 of the examples are wrong. Candidate A: recall 0.6, precision 1; B: recall
    0.9, precision 0.9; C: recall 0.95, precision 0.6. flagged share = recall w / precision."""
    w = 0.2
    recall = [0.6, 0.9, 0.95]
    precision = [1.0, 0.9, 0.6]
    flagged = [r * w / p for r, p in zip(recall, precision, strict=True)]
    truth = [2 * p * r / (p + r) for r, p in zip(recall, precision, strict=True)]
    estimate = canary_f1(recall, flagged)
    np.testing.assert_allclose(estimate, truth)
    assert int(np.argmax(estimate)) == 1


def test_canary_f1_estimates_the_rate_from_reliable_recalls_only():
    # A finds 10% of the canaries and flags almost nothing: its ratio (0.001 / 0.1 = 0.01)
    # is a small number's noise and must not set the rate; B and C (recall >= 0.5) do.
    est = canary_f1([0.1, 0.8, 0.9], [0.001, 0.2, 0.3])
    w = 0.2 / 0.8
    assert est[1] == pytest.approx(2 * 0.8 * w / (0.2 + w))
    # none reliable: the highest recall's ratio
    est = canary_f1([0.1, 0.2], [0.05, 0.05])
    assert est[1] == pytest.approx(2 * 0.2 * 0.25 / (0.05 + 0.25))
    assert canary_f1([0.0, 0.0], [0.1, 0.2]) == (0.0, 0.0)  # no canary found
    assert canary_f1([0.5], [0.0]) == (0.0,)  # nothing else flagged
    assert canary_f1([], []) == ()
    with pytest.raises(ValueError, match="one shape"):
        canary_f1([0.5], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        canary_f1([1.5], [0.1])


def _spy_trainer(seen: list, *, fail_probe: bool = False):
    """``train``, recording each call's ``(labels, held-out labels, epochs)``; the held-out
    labels are None for canary-f1-structured's probe (it has no held-out split), which
    raises with ``fail_probe``."""

    def trainer(cfg, images, labels, **kw):
        held = kw.get("test_labels")
        held = None if held is None else np.asarray(held).copy()
        seen.append((np.asarray(labels).copy(), held, cfg.epochs))
        if held is None and fail_probe:
            raise RuntimeError("probe diverged")
        return train(cfg, images, labels, **kw)

    return trainer


def test_canary_f1_trains_on_the_canaries_and_chooses_by_the_estimate():
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    seen: list = []
    a = select_settings(images, labels, train_config=cfg, criterion="canary-f1", quiet=True,
                        trainer=_spy_trainer(seen))  # fmt: skip
    b = select_settings(images, labels, train_config=cfg, criterion="canary-f1", quiet=True)
    assert a.table() == b.table() and a.settings() == b.settings()  # deterministic
    plan = a.plan
    assert plan.canaries == canary_count(plan.n_search) > 0
    assert any("flipped on purpose" in line for line in plan.lines())
    assert a.sample_epochs == pytest.approx(plan.search_cost)  # the passes are budgeted
    # What the candidates trained on: the search set's given labels with the canaries
    # flipped; the held-out labels as given.
    train_idx, held_idx = _split(labels, 0.1, cfg.seed)
    search_idx = _subsample(train_idx, labels, plan.n_search, cfg.seed)
    pos, expected = plant_canaries(labels[search_idx], num_classes=3, seed=cfg.seed)
    for trained_on, held, _ in seen:
        np.testing.assert_array_equal(trained_on, expected)
        np.testing.assert_array_equal(held, labels[held_idx])
    assert (expected != labels[search_idx]).sum() == pos.size
    scored = [r for r in a.results if r.ok]
    assert all(r.canary_recall is not None and r.flagged_share is not None for r in scored)
    finalists = [r for r in a.results if r.status in ("chosen", "kept")]
    chosen = next(r for r in a.results if r.status == "chosen")
    assert chosen.canary_f1 == max(r.canary_f1 for r in finalists)
    assert "highest canary-f1" in a.why
    row = a.table()[0]
    assert {"canary_recall", "flagged_share", "canary_f1"} <= set(row)


def test_other_criteria_plant_no_canaries():
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    seen: list = []
    sel = select_settings(images, labels, train_config=cfg, quiet=True,
                          trainer=_spy_trainer(seen))  # fmt: skip
    assert sel.plan.canaries == 0
    assert all(r.canary_recall is None and r.canary_f1 is None for r in sel.results)
    train_idx, _ = _split(labels, 0.1, cfg.seed)
    search_idx = _subsample(train_idx, labels, sel.plan.n_search, cfg.seed)
    for trained_on, _, _ in seen:  # exactly the given labels, none flipped
        np.testing.assert_array_equal(trained_on, labels[search_idx])



# ----- criterion canary-f1-structured: canaries where the data's wrong labels go -----------


def test_canary_transitions_follow_the_joints_wrong_labels_with_an_add_one_prior():
    # Q[given, true]: class 0's examples are labelled 1 (90 of them), class 1's labelled 2.
    joint = np.array([[500, 0, 0], [90, 500, 0], [0, 60, 500]], dtype=float)
    t = canary_transitions(joint)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.diag(t), 0.0)
    assert t[0, 1] == pytest.approx(91 / 92) and t[1, 2] == pytest.approx(61 / 62)
    assert t[2, 0] == t[2, 1] == pytest.approx(0.5)  # nothing learnt of class 2: uniform
    # Few counts weigh little against the prior; many dominate it.
    few = canary_transitions(np.array([[9, 0, 0], [1, 9, 0], [0, 0, 9]], float))
    assert few[0, 1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="K >= 2"):
        canary_transitions(np.ones((1, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        canary_transitions(-np.ones((3, 3)))


def test_structured_canaries_go_where_the_transitions_send_them():
    labels = np.repeat(np.arange(4), 150)
    pair = np.roll(np.eye(4), 1, axis=1)  # class g -> g + 1
    pos, flipped = plant_canaries(labels, num_classes=4, seed=3, transitions=pair)
    uniform_pos, _ = plant_canaries(labels, num_classes=4, seed=3)
    np.testing.assert_array_equal(pos, uniform_pos)  # same positions, other classes
    np.testing.assert_array_equal(flipped[pos], (labels[pos] + 1) % 4)
    keep = np.ones(labels.size, bool)
    keep[pos] = False
    np.testing.assert_array_equal(flipped[keep], labels[keep])
    half = np.full((4, 4), 0.0)
    half[np.arange(4), (np.arange(4) + 1) % 4] = 0.5
    half[np.arange(4), (np.arange(4) + 2) % 4] = 0.5
    _, a = plant_canaries(labels, num_classes=4, seed=3, transitions=half)
    _, b = plant_canaries(labels, num_classes=4, seed=3, transitions=half)
    np.testing.assert_array_equal(a, b)  # reproducible
    shift = (a[pos] - labels[pos]) % 4
    assert set(shift) == {1, 2}
    for bad, match in [(np.eye(4), "zero diagonal"), (np.ones((3, 3)) / 3, r"\(4, 4\)")]:
        with pytest.raises(ValueError, match=match):
            plant_canaries(labels, num_classes=4, seed=3, transitions=bad)


def test_structured_canaries_come_from_a_probe_on_the_given_labels_and_are_budgeted():
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    seen: list = []
    kw = dict(train_config=cfg, criterion="canary-f1-structured", quiet=True)
    a = select_settings(images, labels, **kw, trainer=_spy_trainer(seen))
    b = select_settings(images, labels, **kw)
    assert a.table() == b.table() and a.canary_transitions == b.canary_transitions
    plan = a.plan
    assert plan.canary_probe_epochs == CANARY_PROBE_EPOCHS
    assert plan.canaries == canary_count(plan.n_search)
    assert any("cross-entropy probe" in line for line in plan.lines())
    assert a.sample_epochs == pytest.approx(plan.search_cost)  # the probe is budgeted
    uniform = plan_search(labels, epochs=cfg.epochs, protocol="cv",
                          criterion="canary-f1")  # fmt: skip
    assert plan.search_cost > uniform.search_cost  # the probe costs more
    assert plan.n_search <= uniform.n_search  # ... paid for with no larger a search set
    train_idx, _ = _split(labels, 0.1, cfg.seed)
    search_idx = _subsample(train_idx, labels, plan.n_search, cfg.seed)
    # First the probe, on the given labels (no canaries, no held-out split) ...
    probe_labels, probe_held, epochs = seen[0]
    assert probe_held is None and epochs == CANARY_PROBE_EPOCHS
    np.testing.assert_array_equal(probe_labels, labels[search_idx])
    # ... then every candidate on the canaries the recorded transitions put there.
    t = np.array(a.canary_transitions)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    _, expected = plant_canaries(
        labels[search_idx], num_classes=3, seed=cfg.seed, transitions=t
    )
    assert all(held is not None for _, held, _ in seen[1:])
    for trained_on, _, _ in seen[1:]:
        np.testing.assert_array_equal(trained_on, expected)
    assert "probe" in a.canary_note and "highest canary-f1-structured" in a.why
    assert a.to_dict()["canary_transitions"] == [list(r) for r in a.canary_transitions]


def test_a_failing_probe_falls_back_to_uniform_canaries_and_says_so():
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    seen: list = []
    sel = select_settings(images, labels, train_config=cfg, criterion="canary-f1-structured",
                          quiet=True, trainer=_spy_trainer(seen, fail_probe=True))  # fmt: skip
    assert sel.canary_transitions is None
    assert sel.canary_note.startswith("uniform") and "probe diverged" in sel.canary_note
    train_idx, _ = _split(labels, 0.1, cfg.seed)
    search_idx = _subsample(train_idx, labels, sel.plan.n_search, cfg.seed)
    _, expected = plant_canaries(labels[search_idx], num_classes=3, seed=cfg.seed)
    for trained_on, _, _ in seen[1:]:
        np.testing.assert_array_equal(trained_on, expected)
    assert sel.chosen is not None
