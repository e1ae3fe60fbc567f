"""robustloss.experiments: RunConfig, protocols and run_experiment / detect_own_data, end to end
on tiny synthetic data (a few hundred 28x28 images, the tiny model, 2-3 epochs)."""

from __future__ import annotations

import csv
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from robustloss.detect import find_label_errors
from robustloss.probs import protocols
from robustloss.run import pipeline, trainset
from robustloss.run.config import PRESETS, RunConfig, config_hash
from robustloss.run.pipeline import detect_own_data, run_experiment
from robustloss.run.records import RunSummary
from synthetic import synthetic_images

CLASS_NAMES = ["top-left", "centre", "bottom-right"]


def write_npz(path: Path, n: int = 240, seed: int = 0) -> Path:
    images, labels = synthetic_images(n, seed)
    np.savez(path, images=images, labels=labels, class_names=np.array(CLASS_NAMES))
    return path


def tiny(**kw) -> dict:
    base = {
        "model": "tiny",
        "epochs": 3,
        "batch_size": 32,
        "lr": 1e-2,
        "threads": 1,
        "device": "cpu",
        "noise": 0.2,
    }
    base.update(kw)
    return base


@pytest.fixture
def npz(tmp_path) -> Path:
    return write_npz(tmp_path / "toy.npz")


@pytest.fixture
def fake_mnist(monkeypatch):
    """load_dataset("mnist") -> synthetic arrays (train 240, test 90): no real data needed."""
    data = {"train": synthetic_images(240, 1), "test": synthetic_images(90, 2)}
    calls = []

    def load_dataset(name, split="train", **_):
        calls.append((name, split))
        return data[split]

    monkeypatch.setattr(trainset, "load_dataset", load_dataset)
    monkeypatch.setattr(trainset, "dataset_class_names", lambda name: CLASS_NAMES)
    return calls


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# ----- RunConfig ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"dataset": "cifar10"}, r"`dataset` \(--dataset\).*mnist.*'cifar10'"),
        ({"noise": 1.5}, r"`noise` \(--noise\) to be a rate in \[0, 1\], but got 1.5"),
        ({"noise": -0.1}, r"rate in \[0, 1\], but got -0.1"),
        ({"loss": "ce", "gamma": 0.4}, r"`gamma` \(--gamma\) does not belong to loss 'ce'"),
        ({"loss": "pz", "gamma": 0.4, "cutoff": 0.1}, r"--gamma.*does not belong to loss 'pz'"),
        ({"loss": "blurry"}, r"--loss blurry: .*gamma"),
        ({"loss": "pz", "cutoff": 1.5}, r"--loss pz: .*cutoff.*1.5"),
        ({"loss": "nope"}, r"`loss` \(--loss\)"),
        ({"folds": 1}, r"`folds` \(--folds\) to be an integer >= 2, but got 1"),
        ({"epochs": 2, "delay": 3}, r"`delay` \(--delay\) <= epochs \(2\), but got 3"),
        ({"protocol": "loo"}, r"`protocol`.*in-sample, cv, paper-cv.*'loo'"),
        ({"method": "x"}, r"`method`"),
        ({"lr": 0.0}, r"`lr` \(--lr\)"),
        ({"subset": 1}, r"`subset`"),
        ({"noise_kind": "matrix"}, r"`noise_kind`"),
        ({"device": "gpu"}, r"`device`"),
        ({"dataset": "mnist", "data": "x.npz"}, r"exactly one of .*both"),
        ({"dataset": None}, r"exactly one of .*neither"),
        ({"image_size": 32}, r"`image_size`.*image folders"),
        ({"bogus": 1}, r"unknown run setting\(s\) \['bogus'\]"),
        ({"detach_weight": True}, r"`detach_weight`.*does not belong to loss 'ce'"),
    ],
)
def test_run_config_errors_name_the_key(settings, match):
    with pytest.raises(ValueError, match=match):
        RunConfig.from_dict(settings)


def test_run_config_accepts_loss_parameters_of_its_loss():
    cfg = RunConfig.from_dict({"loss": "blurry", "gamma": 0.4, "detach_weight": False})
    assert cfg.loss_params() == {"gamma": 0.4, "detach_weight": False}
    assert RunConfig.from_dict({"loss": "pz", "cutoff": 0.05}).loss_params() == {"cutoff": 0.05}
    assert RunConfig().loss_params() == {}
    assert RunConfig.from_dict({"data": "x.npz"}).dataset is None


def test_config_hash_is_stable_and_canonical():
    a = RunConfig.from_dict({"seed": 3})
    assert config_hash(a) == config_hash(RunConfig.from_dict({"seed": 3, "noise_seed": 3}))
    assert config_hash(a) == config_hash(a.to_dict())
    assert config_hash(RunConfig.from_dict({"noise": 0})) == config_hash(
        RunConfig.from_dict({"noise": 0.0})
    )
    assert config_hash(a) != config_hash(RunConfig.from_dict({"seed": 3, "lr": 1e-4}))
    assert config_hash(a) != config_hash(RunConfig.from_dict({"seed": 3, "noise_seed": 4}))
    assert len(config_hash(a)) == 64
    assert RunConfig.from_dict(json.loads(json.dumps(a.to_dict()))) == a


def test_paper_preset_is_the_authors_code():
    paper = PRESETS["paper"]
    cfg = RunConfig.from_dict({**paper, "loss": "blurry", "gamma": 0.4})
    assert (cfg.lr, cfg.scaling, cfg.protocol, cfg.folds) == (1e-4, "raw", "paper-cv", 5)
    assert (cfg.noise_kind, cfg.noise_seed, cfg.batch_size, cfg.epochs) == ("bernoulli", 1, 64, 10)
    assert (cfg.method, cfg.rank_by, cfg.model) == ("both", "self_confidence", "paper-cnn")
    # A preset never sets a loss hyperparameter: it must combine with every loss.
    assert not set(paper) & {"loss", "gamma", "cutoff", "q", "alpha", "beta", "detach_weight"}


# ----- end to end: each protocol -----------------------------------------------------------


def check_run_folder(out: Path, summary: RunSummary) -> None:
    """Every number of the summary, recomputed from the files."""
    for name in (
        "config.json",
        "summary.json",
        "history.csv",
        "history.json",
        "corruption.json",
        "pred_probs.npy",
        "detections.csv",
        "suspect_images.npz",
    ):
        assert (out / name).is_file(), name
    rows = read_csv(out / "detections.csv")
    corruption = json.loads((out / "corruption.json").read_text())
    probs = np.load(out / "pred_probs.npy")
    n = corruption["n"]
    assert len(rows) == n == probs.shape[0] == summary.n
    assert sorted(int(r["index"]) for r in rows) == list(range(n))

    flagged = {int(r["index"]) for r in rows if r["flagged"] == "1"}
    corrupted = set(corruption["indices"])
    correct = len(flagged & corrupted)
    assert summary.flagged == len(flagged)
    assert summary.corrupted == len(corrupted) == corruption["count"]
    assert summary.correct == correct
    p = correct / len(flagged) if flagged else 0.0
    r = correct / len(corrupted) if corrupted else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    np.testing.assert_allclose(
        [summary.precision, summary.recall, summary.f1], [p, r, f1], rtol=1e-12
    )
    assert json.loads((out / "summary.json").read_text())["f1"] == summary.f1

    by_index = {int(r["index"]): r for r in rows}
    given = np.array([int(by_index[i]["given_label"]) for i in range(n)])
    true = np.array([int(by_index[i]["true_label"]) for i in range(n)])
    # The stored corruption and the table agree; corrupted rows changed class.
    assert {i for i in range(n) if by_index[i]["corrupted"] == "1"} == corrupted
    np.testing.assert_array_equal(given[corruption["indices"]], corruption["noisy_labels"])
    np.testing.assert_array_equal(true[corruption["indices"]], corruption["true_labels"])
    assert np.all((given != true) == np.isin(np.arange(n), corruption["indices"]))
    # Probabilities in the table are those in pred_probs.npy, exactly.
    for i in (0, n // 2, n - 1):
        assert float(by_index[i]["p_given"]) == probs[i, given[i]]
        assert int(by_index[i]["suggested_label"]) == int(probs[i].argmax())
    # The flagged set and its order are find_label_errors on the stored probabilities.
    cfg = summary.config
    again = find_label_errors(given, probs, method=cfg["method"], rank_by=cfg["rank_by"])
    assert [int(r["index"]) for r in rows[: len(flagged)]] == again.tolist()
    assert [r["rank"] for r in rows] == [str(k) for k in range(1, n + 1)]


@pytest.mark.parametrize("protocol", ["in-sample", "cv", "paper-cv"])
def test_run_experiment_each_protocol(tmp_path, npz, protocol):
    out = tmp_path / "run"
    summary = run_experiment(
        RunConfig.from_dict(tiny(data=str(npz), protocol=protocol, folds=3)), out, quiet=True
    )
    check_run_folder(out, summary)
    assert summary.corrupted == round(0.2 * 240)
    assert summary.flagged > 0 and summary.correct > 0  # it learned something
    assert summary.test_acc is None  # an .npz has no test split
    history = summary.history
    folds = 1 if protocol == "in-sample" else 3
    assert len(history) == folds * 3
    if protocol != "in-sample":
        assert sorted({row["fold"] for row in history}) == [0, 1, 2]
        rows = read_csv(out / "detections.csv")
        assert sorted({r["fold"] for r in rows}) == ["0", "1", "2"]
    config = json.loads((out / "config.json").read_text())
    assert config["config_hash"] == config_hash(RunConfig.from_dict(config["config"]))
    assert config["config"]["protocol"] == protocol
    assert len(config["seeds"]["model_seeds"]) == folds
    assert not list(tmp_path.glob(".run.*"))  # no temporary folder left behind


def test_run_on_a_dataset_reports_test_accuracy(tmp_path, fake_mnist):
    summary = run_experiment(
        tiny(dataset="mnist", protocol="cv", folds=2), tmp_path / "r", quiet=True
    )
    assert ("mnist", "train") in fake_mnist and ("mnist", "test") in fake_mnist
    assert len(summary.test_acc_per_model) == 2
    assert summary.test_acc == pytest.approx(np.mean(summary.test_acc_per_model))
    assert 0.5 < summary.test_acc <= 1.0  # the synthetic task is easy
    assert summary.class_names == CLASS_NAMES
    check_run_folder(tmp_path / "r", summary)


def test_same_config_same_result(tmp_path, npz):
    cfg = tiny(data=str(npz), protocol="cv", folds=2)
    a = run_experiment(cfg, tmp_path / "a", quiet=True)
    b = run_experiment(cfg, tmp_path / "b", quiet=True)
    np.testing.assert_array_equal(
        np.load(tmp_path / "a" / "pred_probs.npy"), np.load(tmp_path / "b" / "pred_probs.npy")
    )
    assert a.f1 == b.f1 and a.config_hash == b.config_hash


def test_subset_is_stratified_and_deterministic(tmp_path, npz):
    s1 = run_experiment(tiny(data=str(npz), subset=90, epochs=1), tmp_path / "a", quiet=True)
    corruption = json.loads((tmp_path / "a" / "corruption.json").read_text())
    src = np.array(corruption["source_indices"])
    assert s1.n == 90 and len(src) == 90 and np.all(np.diff(src) > 0)
    _, labels = synthetic_images(240, 0)
    np.testing.assert_array_equal(np.bincount(labels[src]), [30, 30, 30])
    run_experiment(tiny(data=str(npz), subset=90, epochs=1), tmp_path / "b", quiet=True)
    again = json.loads((tmp_path / "b" / "corruption.json").read_text())["source_indices"]
    assert again == corruption["source_indices"]
    rows = read_csv(tmp_path / "a" / "detections.csv")
    assert {int(r["source_index"]) for r in rows} == set(src.tolist())
    with pytest.raises(ValueError, match=r"--subset.*<= the 240 examples, but got 500"):
        run_experiment(tiny(data=str(npz), subset=500), None, quiet=True)


def test_out_of_sample_protocols_never_ask_a_model_about_its_training_data(npz, monkeypatch):
    images, labels = synthetic_images(120, 5)
    trained_on = []
    original = protocols.train

    def spy(config, imgs, labs, **kw):
        trained_on.append({bytes(x) for x in imgs})
        return original(config, imgs, labs, **kw)

    monkeypatch.setattr(protocols, "train", spy)
    result = protocols.predicted_probabilities(
        images,
        labels,
        pipeline.train_config_for(RunConfig.from_dict(tiny(data="x.npz"))),
        protocol="cv",
        folds=3,
        seed=0,
        num_classes=3,
        quiet=True,
    )
    probs = result.pred_probs
    assert probs.shape == (120, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    fold_of = result.fold_of
    for k, seen in enumerate(trained_on):
        held = {bytes(images[i]) for i in np.flatnonzero(fold_of == k)}
        assert held and not held & seen
    # Stratified: each fold holds out 40 examples, 13 or 14 of each class.
    for k in range(3):
        counts = np.bincount(labels[fold_of == k], minlength=3)
        assert counts.sum() == 40 and counts.min() >= 13


def _spy_models(monkeypatch):
    calls = []
    original = protocols.train

    def spy(config, images, labels, **kw):
        given = kw.get("model")
        before = (
            None
            if given is None
            else {k: v.detach().clone() for k, v in given.state_dict().items()}
        )
        result = original(config, images, labels, **kw)
        after = {k: v.detach().clone() for k, v in result.model.state_dict().items()}
        calls.append(
            {
                "given": given,
                "before": before,
                "returned": result.model,
                "after": after,
                "seed": config.seed,
            }
        )
        return result

    monkeypatch.setattr(protocols, "train", spy)
    return calls


def test_paper_cv_carries_one_model_across_folds(tmp_path, npz, monkeypatch):
    calls = _spy_models(monkeypatch)
    run_experiment(tiny(data=str(npz), protocol="paper-cv", folds=3, epochs=1), None, quiet=True)
    assert len(calls) == 3
    assert calls[0]["given"] is None
    for prev, cur in itertools.pairwise(calls):
        assert cur["given"] is prev["returned"]  # the same object, not a copy
        for key, value in prev["after"].items():  # not re-initialised in between
            torch.testing.assert_close(cur["before"][key], value, rtol=0, atol=0)
        assert cur["seed"] != prev["seed"]  # new batch order per fold


def test_cv_trains_a_fresh_model_per_fold(tmp_path, npz, monkeypatch):
    calls = _spy_models(monkeypatch)
    run_experiment(tiny(data=str(npz), protocol="cv", folds=3, epochs=1), None, quiet=True)
    assert len(calls) == 3
    assert all(c["given"] is None for c in calls)
    assert len({id(c["returned"]) for c in calls}) == 3
    assert len({c["seed"] for c in calls}) == 3  # each fold its own initialisation
    first = next(iter(calls[0]["after"]))
    assert not torch.equal(calls[0]["after"][first], calls[1]["after"][first])


# ----- run folder safety -------------------------------------------------------------------


def test_existing_runs_are_not_replaced_silently(tmp_path, npz):
    out = tmp_path / "run"
    cfg = tiny(data=str(npz), epochs=1)
    run_experiment(cfg, out, quiet=True)
    first = (out / "summary.json").read_text()
    with pytest.raises(ValueError, match="already holds this finished run"):
        run_experiment(cfg, out, quiet=True)
    with pytest.raises(ValueError, match=r"holds a different run.*--overwrite"):
        run_experiment({**cfg, "seed": 1}, out, quiet=True)
    assert (out / "summary.json").read_text() == first  # untouched
    summary = run_experiment({**cfg, "seed": 1}, out, quiet=True, overwrite=True)
    assert json.loads((out / "summary.json").read_text())["config"]["seed"] == 1
    assert summary.config_hash != json.loads(first)["config_hash"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "toy.npz"]


def test_a_folder_that_is_not_a_run_is_never_replaced(tmp_path, npz):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="not a robustloss run folder"):
            run_experiment(tiny(data=str(npz), epochs=1), out, quiet=True, overwrite=overwrite)
    assert (out / "thesis.tex").read_text() == "precious"


def test_a_failure_leaves_no_half_written_folder(tmp_path, npz):
    def broken(run_dir):
        assert (run_dir / "summary.json").is_file()  # called on the complete folder
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        run_experiment(tiny(data=str(npz), epochs=1), tmp_path / "run", quiet=True, finalize=broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.npz"]


def test_bad_data_is_a_value_error_before_training(tmp_path, monkeypatch):
    monkeypatch.setattr(protocols, "train", lambda *a, **k: pytest.fail("trained"))
    floats = tmp_path / "floats.npz"
    np.savez(floats, images=np.zeros((10, 28, 28), np.uint8), labels=np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="labels"):
        run_experiment(tiny(data=str(floats)), None, quiet=True)
    one = tmp_path / "one.npz"
    np.savez(
        one,
        images=np.zeros((10, 28, 28), np.uint8),
        labels=np.zeros(10, np.int64),
        class_names=np.array(["a", "b"]),
    )
    with pytest.raises(ValueError, match="at least 2 classes"):
        run_experiment(tiny(data=str(one)), None, quiet=True)


# ----- detect on the user's own data -------------------------------------------------------


def write_image_folder(root: Path, n_per_class: int = 40, wrong: int = 3) -> dict[str, str]:
    """Class folders of PNGs; the first `wrong` images of 'a' are really class-'b' pictures.
    Returns {path: true class} of the wrong ones."""
    images, labels = synthetic_images(3 * n_per_class, 7)
    names = ["a", "b", "c"]
    counters = dict.fromkeys(names, 0)
    misplaced = {}
    b_images = [img for img, lab in zip(images, labels, strict=True) if lab == 1]
    for img, lab in zip(images, labels, strict=True):
        name = names[lab]
        (root / name).mkdir(parents=True, exist_ok=True)
        path = root / name / f"{counters[name]:03d}.png"
        if name == "a" and counters[name] < wrong:
            img = b_images[counters[name]]
            misplaced[str(path)] = "b"
        Image.fromarray(img).save(path)
        counters[name] += 1
    return misplaced


def test_detect_own_data_on_an_image_folder(tmp_path):
    folder = tmp_path / "photos"
    misplaced = write_image_folder(folder)
    out = tmp_path / "det"
    summary = detect_own_data(
        folder, tiny(loss="ce", protocol="cv", folds=3, epochs=6), out, quiet=True
    )
    assert summary.command == "detect"
    assert set(summary.estimated_errors_per_class) == {"a", "b", "c"}
    assert "precision" not in summary.to_dict()
    assert not (out / "corruption.json").exists()
    rows = read_csv(out / "detections.csv")
    assert "corrupted" not in rows[0] and "true_label" not in rows[0]
    assert len(rows) == 120
    for r in rows:
        assert Path(r["path"]).is_file()
        assert Path(r["path"]).parent.name == r["given_class"]
        assert r["suggested_class"] in {"a", "b", "c"}
    flagged_paths = {r["path"] for r in rows if r["flagged"] == "1"}
    assert summary.flagged == len(flagged_paths) > 0
    # The pictures filed under the wrong class are the top suspects, with the right suggestion.
    top = rows[: len(misplaced)]
    assert {r["path"] for r in top} == set(misplaced)
    assert all(r["suggested_class"] == "b" for r in top)
    assert flagged_paths <= set(misplaced)
    config = json.loads((out / "config.json").read_text())
    assert config["command"] == "detect" and config["config"]["noise"] == 0.0


@pytest.mark.parametrize("protocol", ["in-sample", "cv"])
def test_shared_warmup_hook_is_bitwise_equal_to_running_alone(tmp_path, npz, protocol):
    """The sweep layer's hook: checkpoint a CE warm-up, start a delayed trial from it."""
    trial = tiny(
        data=str(npz), protocol=protocol, folds=2, loss="blurry", gamma=0.4, delay=2, epochs=3
    )
    warm = {**trial, "loss": "ce", "gamma": None, "delay": 2, "epochs": 2}
    run_experiment(warm, None, quiet=True, checkpoint_dir=tmp_path / "warm")
    models = 1 if protocol == "in-sample" else 2
    for k in range(models):
        assert (tmp_path / "warm" / f"model-{k}" / "epoch-002.pt").is_file()
    alone = run_experiment(trial, tmp_path / "alone", quiet=True)
    shared = run_experiment(trial, tmp_path / "shared", quiet=True, resume_dir=tmp_path / "warm")
    np.testing.assert_array_equal(
        np.load(tmp_path / "alone" / "pred_probs.npy"),
        np.load(tmp_path / "shared" / "pred_probs.npy"),
    )
    assert alone.f1 == shared.f1


def test_paper_cv_cannot_resume_from_a_shared_warmup(tmp_path, npz):
    with pytest.raises(ValueError, match="paper-cv"):
        run_experiment(
            tiny(data=str(npz), protocol="paper-cv", delay=1), None, quiet=True, resume_dir=tmp_path
        )


@pytest.mark.parametrize("protocol", ["in-sample", "cv", "paper-cv"])
def test_test_accuracy_is_each_models_accuracy_on_the_test_split(protocol):
    images, labels = synthetic_images(120, 4)
    test_images, test_labels = synthetic_images(60, 6)
    config = pipeline.train_config_for(RunConfig.from_dict(tiny(data="x.npz", epochs=2)))
    result = protocols.predicted_probabilities(
        images, labels, config, protocol=protocol, folds=2, num_classes=3,
        test=(test_images, test_labels), quiet=True,
    )  # fmt: skip
    accs = result.test_acc_per_model
    assert len(accs) == (1 if protocol == "in-sample" else 2)
    # The last model (for paper-cv: the one model after the last fold) evaluated here:
    probs = protocols.predict_proba(result.models[-1], test_images)
    assert accs[-1] == pytest.approx(np.mean(probs.argmax(axis=1) == test_labels))


def test_summary_json_is_the_returned_run_summary(tmp_path, npz):
    summary = run_experiment(tiny(data=str(npz), epochs=1), tmp_path / "r", quiet=True)
    on_disk = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert list(on_disk) == list(summary.to_dict())
    assert RunSummary.from_dict(on_disk).to_dict() == on_disk
    assert {**on_disk, "seconds": None} == json.loads(
        json.dumps({**summary.to_dict(), "seconds": None})
    )
    with pytest.raises(ValueError, match="unknown keys"):
        RunSummary.from_dict({**on_disk, "extra": 1})
