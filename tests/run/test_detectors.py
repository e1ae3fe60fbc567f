"""Detectors beside Confident Learning: each on a synthetic problem with known flips, AUM's
margins against a recomputation, the threshold-sample run, and the truth never reaching them."""

from __future__ import annotations

import dataclasses
import inspect

import numpy as np
import pytest
import torch

from robustloss.detect import (
    DETECTORS,
    DetectorInputs,
    cl_estimated_count,
    run_detector,
    score_detections,
)
from robustloss.detect.aum import aum_threshold, find_by_aum, threshold_sample_labels
from robustloss.detect.knn import knn_pred_probs
from robustloss.detect.vote import vote
from robustloss.models.images import make_model
from robustloss.run import detectors as det_phase
from robustloss.run import phases, pipeline
from robustloss.run.config import RunConfig, config_hash
from robustloss.train import TrainConfig, permutation_seed, train
from synthetic import synthetic_images

K = 4


def _problem(n=400, n_flip=40, seed=0):
    """Known flips: true classes balanced; the model (probabilities, margins, features)
    sides with the TRUE class, as a model that did not memorise the flips would."""
    rng = np.random.default_rng(seed)
    true = np.arange(n) % K
    labels = true.copy()
    flip = np.sort(rng.choice(n, size=n_flip, replace=False)) if n_flip else np.zeros(0, int)
    labels[flip] = (true[flip] + rng.integers(1, K, size=flip.size)) % K
    probs = np.full((n, K), 0.05) + rng.uniform(0, 0.02, size=(n, K))
    probs[np.arange(n), true] = 0.85
    probs /= probs.sum(1, keepdims=True)
    aum = rng.normal(3.0, 0.5, size=n)  # learnt early: a large margin for its label
    aum[flip] = rng.normal(-2.0, 0.5, size=flip.size)  # fought by its true class
    centres = rng.normal(0, 10, size=(K, 16))
    features = centres[true] + rng.normal(0, 1, size=(n, 16))
    corrupted = np.zeros(n, dtype=bool)
    corrupted[flip] = True
    inputs = DetectorInputs(
        labels=labels, pred_probs=probs, aum=aum, aum_threshold=0.0, features=features
    )
    return inputs, corrupted


@pytest.mark.parametrize("name", DETECTORS)
def test_each_detector_finds_the_known_flips(name):
    inputs, corrupted = _problem()
    result = run_detector(name, inputs)
    scores = score_detections(result.flagged, corrupted)
    assert scores["recall"] >= 0.9 and scores["precision"] >= 0.9, scores
    assert result.scores.shape == (400,)
    # Ranked most suspect first; the flagged have lower scores than the rest on average.
    rest = np.setdiff1d(np.arange(400), result.flagged)
    assert result.scores[result.flagged].mean() < result.scores[rest].mean()


@pytest.mark.parametrize("name", DETECTORS)
def test_each_detector_flags_few_on_a_clean_dataset(name):
    inputs, corrupted = _problem(n_flip=0)
    assert not corrupted.any()
    result = run_detector(name, inputs)
    assert result.flagged.size <= 0.02 * 400, (name, result.flagged.size)


def test_detector_names_what_it_lacks():
    inputs, _ = _problem()
    with pytest.raises(ValueError, match="'aum' needs a threshold run"):
        run_detector("aum", dataclasses.replace(inputs, aum_threshold=None))
    with pytest.raises(ValueError, match="'knn' needs penultimate-layer features"):
        run_detector("knn", dataclasses.replace(inputs, features=None))
    with pytest.raises(ValueError, match="detector among cl, aum"):
        run_detector("nope", inputs)


def test_aum_count_flags_as_many_as_cl_estimates():
    inputs, _ = _problem()
    result = run_detector("aum-count", inputs)
    assert result.flagged.size == cl_estimated_count(inputs.labels, inputs.pred_probs)
    lowest = np.argsort(inputs.aum, kind="stable")[: result.flagged.size]
    np.testing.assert_array_equal(result.flagged, lowest)


def test_find_by_aum_threshold_and_count():
    labels = np.zeros(5, dtype=np.int64)
    aum = np.array([1.0, -1.0, 0.5, -3.0, 2.0])
    flagged, scores = find_by_aum(labels, aum, threshold=0.6)
    np.testing.assert_array_equal(flagged, [3, 1, 2])
    np.testing.assert_array_equal(scores, aum)
    np.testing.assert_array_equal(find_by_aum(labels, aum, num_to_flag=2)[0], [3, 1])
    with pytest.raises(ValueError, match="exactly one of"):
        find_by_aum(labels, aum)
    with pytest.raises(ValueError, match="non-finite"):
        find_by_aum(labels, np.array([1.0, np.nan, 0, 0, 0]), threshold=0.0)


def test_vote_needs_two_of_three():
    scores = np.linspace(0, 1, 6)
    a, b, c = np.array([0, 1, 2]), np.array([1, 2, 3]), np.array([2, 5])
    flagged, s = vote([(a, scores), (b, scores), (c, scores)], min_votes=2)
    assert list(flagged) == [2, 1]  # three votes before two
    assert s[2] < s[1] < s[0] and s.shape == (6,)


def test_knn_probabilities_are_datalabs_leave_one_out():
    rng = np.random.default_rng(1)
    feats = np.concatenate([rng.normal(0, 0.1, (6, 2)), rng.normal(5, 0.1, (6, 2))])
    labels = np.array([0] * 6 + [1] * 6)
    labels[0] = 1  # one flip among class-0 points
    probs = knn_pred_probs(labels, feats, num_classes=2, k=5)
    # Its 5 other neighbours are the 5 remaining class-0 points: all say class 0.
    np.testing.assert_allclose(probs[0], [1.0, 0.0])
    # A class-0 point: 4 of its 5 other neighbours are labelled 0, one (the flip) 1.
    np.testing.assert_allclose(probs[1], [0.8, 0.2])
    np.testing.assert_allclose(probs.sum(1), 1.0)


# ----- AUM recorded by the training loop ----------------------------------------------------


def _tiny_config(**kw) -> TrainConfig:
    base = dict(epochs=3, batch_size=16, lr=1e-2, model="tiny", precision="fp32",
                device="cpu", threads=1, seed=5)  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def test_aum_margins_equal_a_recomputation_from_the_saved_logits():
    images, labels = synthetic_images(50, 0)
    net = make_model("tiny", num_classes=3, in_channels=1, image_size=28)
    saved: list[torch.Tensor] = []
    def keep(module, _inputs, out):  # training passes only (no evaluation runs here anyway)
        if module.training:
            saved.append(out.detach().clone())

    net.register_forward_hook(keep)
    cfg = _tiny_config(record_margins=True)
    result = train(cfg, images, labels, model=net, quiet=True)
    # Rebuild every batch's rows from the run's permutation generator.
    gen = torch.Generator().manual_seed(permutation_seed(cfg.seed))
    rows = [torch.randperm(50, generator=gen) for _ in range(cfg.epochs)]
    batches = [p[i : i + 16] for p in rows for i in range(0, 50, 16)]
    assert len(batches) == len(saved)
    total = np.zeros(50)
    for idx, logits in zip(batches, saved, strict=True):
        z = logits.float().numpy()
        y = labels[idx.numpy()]
        others = z.copy()
        others[np.arange(len(y)), y] = -np.inf
        np.add.at(total, idx.numpy(), (z[np.arange(len(y)), y] - others.max(1)).astype(np.float64))
    np.testing.assert_allclose(result.margins.sum, total, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(result.margins.count, np.full(50, cfg.epochs))
    np.testing.assert_allclose(result.margins.mean, total / cfg.epochs, rtol=0, atol=1e-12)


def test_recording_margins_changes_nothing_else():
    images, labels = synthetic_images(60, 1)
    off = train(_tiny_config(), images, labels, quiet=True)
    on = train(_tiny_config(record_margins=True), images, labels, quiet=True)
    assert off.margins is None and on.margins is not None
    for a, b in zip(off.model.state_dict().values(), on.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    keys = ("train_loss", "train_acc")
    assert [[r[k] for k in keys] for r in off.history] == [[r[k] for k in keys] for r in on.history]


def test_early_stopping_holds_out_rows_without_margins():
    images, labels = synthetic_images(90, 2)
    cfg = _tiny_config(record_margins=True, early_stop=True, holdout=0.2, patience=5)
    result = train(cfg, images, labels, quiet=True)
    assert (result.margins.count == 0).sum() == 18  # 20% of each of 3 classes of 30
    assert np.isnan(result.margins.mean[result.margins.count == 0]).all()


# ----- the threshold samples run ------------------------------------------------------------


def test_threshold_sample_labels_add_the_fake_class():
    labels = np.arange(50) % 4
    fake, idx = threshold_sample_labels(labels, 4, rng=0)
    assert idx.size == 50 // 5
    assert (fake[idx] == 4).all()
    keep = np.setdiff1d(np.arange(50), idx)
    np.testing.assert_array_equal(fake[keep], labels[keep])
    assert aum_threshold(np.arange(101.0)) == pytest.approx(99.0)


def test_threshold_run_trains_k_plus_1_outputs_and_hands_back_k():
    images, labels = synthetic_images(60, 3)
    seen = {}

    def spy(config, imgs, fake_labels, *, num_classes, quiet):
        seen["labels"], seen["num_classes"] = fake_labels.copy(), num_classes
        seen["record"] = config.record_margins
        result = train(config, imgs, fake_labels, num_classes=num_classes, quiet=quiet)
        seen["outputs"] = result.model(torch.as_tensor(imgs[:2])).shape[1]
        seen["margins"] = result.margins.mean
        return result

    run = det_phase.aum_threshold_run(
        images, labels, _tiny_config(), num_classes=3, seed=0, train_fn=spy
    )
    assert seen["num_classes"] == 4 and seen["outputs"] == 4 and seen["record"]
    assert set(np.flatnonzero(seen["labels"] == 3)) == set(run.indices)
    assert run.indices.size == 60 // 4 and run.num_outputs == 4
    assert run.threshold == pytest.approx(np.percentile(seen["margins"][run.indices], 99))


def _npz(tmp_path, n=120):
    images, labels = synthetic_images(n, 0)
    path = tmp_path / "toy.npz"
    np.savez(path, images=images, labels=labels)
    return path


def _tiny_run(path, **kw) -> dict:
    base = {"data": str(path), "model": "tiny", "epochs": 2, "batch_size": 32, "lr": 1e-2,
            "threads": 1, "device": "cpu", "noise": 0.2}  # fmt: skip
    base.update(kw)
    return base


def test_aum_run_end_to_end_removes_the_fake_class(tmp_path):
    out = tmp_path / "run"
    summary = pipeline.run_experiment(_tiny_run(_npz(tmp_path), detector="aum"), out, quiet=True)
    assert summary.detector == "aum" and summary.f1 is not None
    assert set(summary.detector_costs) == {"threshold_run"}
    assert summary.detector_seconds >= summary.detector_costs["threshold_run"]
    assert np.load(out / "pred_probs.npy").shape == (120, 3)  # K columns: no fake class
    meta = (out / "config.json").read_text()
    assert '"aum_threshold": ' in meta and '"detector": "aum"' in meta
    rows = (out / "detections.csv").read_text().splitlines()
    assert len(rows) == 121


# ----- the truth never reaches a detector ---------------------------------------------------


def test_detector_inputs_have_no_truth_field():
    fields = {f.name for f in dataclasses.fields(DetectorInputs)}
    assert not fields & {"corrupted", "true_labels", "truth", "noise"}
    params = set(inspect.signature(det_phase.detect_phase).parameters)
    assert not params & {"truth", "corrupted", "true_labels"}
    assert "truth" not in inspect.signature(phases.detect).parameters


def test_detection_is_unchanged_by_a_poisoned_truth(tmp_path, monkeypatch):
    """The same noisy labels with a real and a poisoned truth (random true labels, an empty
    mask): every detector flags the same, in the same order."""
    found = []
    real = phases.detect_phase

    def spy(cfg, labels, probs, **kw):
        phase = real(cfg, labels, probs, **kw)
        found.append({n: r.flagged.tolist() for n, r in phase.results.items()})
        return phase

    monkeypatch.setattr(phases, "detect_phase", spy)

    def poisoned(cfg, train_set, quiet):
        train_set, truth = phases.corrupt(cfg, train_set, quiet)
        rng = np.random.default_rng(99)
        bad = dataclasses.replace(
            truth,
            true_labels=rng.integers(0, 3, size=truth.true_labels.shape),
            corrupted=np.zeros_like(truth.corrupted),
        )
        return train_set, bad

    cfg = RunConfig.from_dict(_tiny_run(_npz(tmp_path), compare_detectors="all"))
    honest = pipeline.run_experiment(cfg, quiet=True)
    spoiled = pipeline._execute(cfg, None, command="run", corrupt=poisoned, quiet=True,
                                overwrite=False, finalize=None)  # fmt: skip
    assert found[0] == found[1]
    assert set(found[0]) == set(DETECTORS)
    assert honest.flagged == spoiled.flagged and spoiled.correct == 0


# ----- config, CLI, sweeps ----------------------------------------------------------------


def test_default_config_hash_is_unchanged_by_the_detector_fields():
    import hashlib
    import json

    cfg = RunConfig()
    old = {k: v for k, v in cfg.resolved().items()
           if k not in ("detector", "compare_detectors", "features", "labels", "labels_column",
                        "pred_probs", "head", "auto_criterion")}  # fmt: skip
    text = json.dumps(old, sort_keys=True, separators=(",", ":"))
    assert config_hash(cfg) == hashlib.sha256(text.encode()).hexdigest()
    assert config_hash(RunConfig(detector="knn")) != config_hash(cfg)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"detector": "nope"}, "detector"),
        ({"compare_detectors": "cl,nope"}, "compare_detectors"),
        ({"detector": "aum", "early_stop": True}, "early_stop"),
        ({"dataset": None, "pred_probs": "p.npy", "labels": "l.npy", "detector": "knn"},
         "features"),
        ({"dataset": None, "features": "f.npy", "labels": "l.npy", "detector": "vote"},
         "training margins"),
    ],
)
def test_detector_config_errors(settings, match):
    with pytest.raises(ValueError, match=match):
        RunConfig.from_dict(settings)


@pytest.mark.parametrize("name", DETECTORS)
def test_cli_run_each_detector(tmp_path, name, capsys):
    import json

    import robustloss.cli as cli

    out = tmp_path / name
    argv = ["run", "--data", str(_npz(tmp_path)), "--model", "tiny", "--epochs", "1",
            "--batch-size", "32", "--threads", "1", "--device", "cpu", "--detector", name,
            "--out", str(out), "--json", "--quiet"]  # fmt: skip
    assert cli.main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["detector"] == name and summary["f1"] is not None
    assert (out / "report.html").is_file() and (out / "detections.csv").is_file()


def test_sweep_axis_and_compare_in_a_spec(tmp_path):
    from robustloss.sweeps.executors import close_client, make_client
    from robustloss.sweeps.spec import expand_spec, load_spec
    from robustloss.sweeps.store import ResultStore
    from robustloss.sweeps.sweep import run_sweep

    path = _npz(tmp_path)
    spec_text = f"""
data = "{path}"
model = "tiny"
epochs = 1
batch_size = 32
threads = 1
device = "cpu"
noise = 0.2
detector = ["cl", "aum"]
compare_detectors = "knn,vote"

[sweep]
name = "det"
"""
    spec_file = tmp_path / "det.toml"
    spec_file.write_text(spec_text)
    spec = load_spec(spec_file)
    assert [c.detector for c in expand_spec(spec)] == ["cl", "aum"]
    client = make_client("local", n_workers=1, processes=False)
    try:
        run_sweep(spec, db_path=tmp_path / "r.db", client=client, progress=False)
    finally:
        close_client(client)
    with ResultStore(tmp_path / "r.db", readonly=True) as store:
        trials = store.trials(sweep="det")
    assert [t.status for t in trials] == ["done", "done"]
    for trial in trials:
        summary = trial.summary
        assert summary.detector == trial.config["detector"]
        assert set(summary.detectors) == {trial.config["detector"], "knn", "vote"}
