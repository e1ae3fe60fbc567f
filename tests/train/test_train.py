"""robustloss.train: history, determinism, resume, shared warm-up, config, predict, overfit."""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import pytest
import torch

import robustloss.run.overfit
from robustloss.cli import train as train_cli
from robustloss.losses import _validation as loss_validation
from robustloss.losses import make_loss
from robustloss.models.images import ImageClassifier, TinyCNN
from robustloss.run.overfit import crossover, find_overfit_point, first_rise
from robustloss.train import (
    HISTORY_KEYS,
    TrainConfig,
    checkpoint_path,
    load_checkpoint,
    predict_proba,
    train,
    warmup_compatible,
)
from robustloss.train.checkpoint import REQUIRED_KEYS, Checkpoint, save_checkpoint
from robustloss.train.config import RECORD_KEYS

N = 256


def make_data(n: int = N, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Learnable 28x28 digits: noise plus a bright bar whose row encodes the class."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n).astype(np.int64)
    images = (rng.random((n, 28, 28)) * 80).astype(np.uint8)
    for k in range(10):
        images[labels == k, 3 + 2 * k : 5 + 2 * k, 4:24] = 255
    return images, labels


@pytest.fixture(scope="module")
def data():
    return make_data()


def cfg(**kw) -> TrainConfig:
    # fp32 pinned: precision "auto" resolves to bf16 + channels-last on a CPU with native bf16,
    # and these tests are about the training mechanics, the same on every CPU (the auto rule
    # has its own tests, with the capability checks mocked, in test_precision.py)
    base = {"epochs": 2, "batch_size": 32, "model": "tiny", "threads": 1, "lr": 3e-3,
            "precision": "fp32"}  # fmt: skip
    base.update(kw)
    return TrainConfig(**base)


def probs(result, images) -> np.ndarray:
    return predict_proba(result.model, images)


# ----- history and recorded config ------------------------------------------------------------


def test_history_fields_and_learning(data):
    x, y = data
    noisy = y.copy()
    noisy[:25] = (noisy[:25] + 1) % 10
    res = train(
        cfg(epochs=3, loss="pz", loss_params={"cutoff": 0.05}, delay=1, test_every=1),
        x,
        noisy,
        true_labels=y,
        test_images=x[:64],
        test_labels=y[:64],
    )
    assert len(res.history) == 3
    for i, rec in enumerate(res.history):
        assert tuple(rec) == HISTORY_KEYS
        assert rec["epoch"] == i + 1
        assert rec["loss_in_use"] == ("ce" if i == 0 else "pz")
        for key in ("train_acc", "train_acc_true", "test_acc"):
            assert 0.0 <= rec[key] <= 1.0
        if i > 0:  # PZ in use (the CE warm-up epoch records None)
            assert 0.0 <= rec["frac_below_cutoff"] <= 1.0
        assert rec["seconds"] > 0 and rec["samples_per_s"] > 0
        assert math.isfinite(rec["train_loss"]) and math.isfinite(rec["test_loss"])
    assert res.history[-1]["train_loss"] < res.history[0]["train_loss"]
    assert res.history[-1]["test_acc"] > 0.5  # the synthetic task is learnable
    assert res.config["device"] == "cpu" and res.config["threads"] == 1
    assert res.config["precision"] == "fp32" and res.config["loss_params"] == {"cutoff": 0.05}
    settings = {k: v for k, v in res.config.items() if k not in RECORD_KEYS}
    assert TrainConfig.from_dict(res.config) == TrainConfig(**settings)
    assert res.config["epochs_run"] == res.config["chosen_epoch"] == 3
    assert res.test_acc == res.history[-1]["test_acc"]
    assert res.environment["torch"] == torch.__version__
    assert not res.model.training


def test_optional_history_fields_are_none(data):
    x, y = data
    rec = train(cfg(epochs=1), x, y).history[0]
    assert rec["train_acc_true"] is None and rec["frac_below_cutoff"] is None
    assert rec["test_loss"] is None and rec["test_acc"] is None
    assert rec["loss_in_use"] == "ce"


def test_probe_scores_training_examples_in_eval_mode_and_changes_nothing(data):
    """probe_acc is the eval-mode accuracy of the probed examples vs their given labels,
    after every epoch; the training, its randomness and the model are bitwise unchanged."""
    x, y = data
    noisy = y.copy()
    noisy[:25] = (noisy[:25] + 1) % 10
    probe = np.arange(0, x.shape[0], 3)
    plain = train(cfg(epochs=2), x, noisy)
    probed = train(cfg(epochs=2), x, noisy, probe=probe)
    assert _strip_timing(plain.history) == [
        {**r, "probe_acc": None} for r in _strip_timing(probed.history)
    ]
    after = probed.model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in plain.model.state_dict().items())
    assert plain.history[-1]["probe_acc"] is None
    pred = probs(probed, x[probe]).argmax(axis=1)
    assert probed.history[-1]["probe_acc"] == pytest.approx(np.mean(pred == noisy[probe]))


@pytest.mark.parametrize(
    ("probe", "match"),
    [
        (np.array([[0, 1]]), "1-D array of integer indices"),
        (np.array([0.5]), "1-D array of integer indices"),
        (np.array([], dtype=np.int64), "at least one index"),
        (np.array([0, 10_000]), r"indices in \[0, 256\)"),
        (np.array([-1]), r"values from -1 to -1"),
    ],
)
def test_a_bad_probe_is_refused_naming_what_was_expected(data, probe, match):
    x, y = data
    assert x.shape[0] == 256
    with pytest.raises(ValueError, match=match):
        train(cfg(epochs=1), x, y, probe=probe)


def test_frac_below_cutoff_counts_p_t_at_or_below_the_cutoff(data):
    x, y = data
    # cutoff 0.99: at the start every p_t is ~0.1, so (nearly) every sample is below it
    rec = train(cfg(epochs=1, loss="pz", loss_params={"cutoff": 0.99}), x, y).history[0]
    assert rec["frac_below_cutoff"] > 0.9


def test_frac_below_cutoff_is_recorded_only_while_pz_is_in_use(data):
    x, y = data
    hist = train(cfg(epochs=2, loss="pz", loss_params={"cutoff": 0.99}, delay=1), x, y).history
    assert [r["loss_in_use"] for r in hist] == ["ce", "pz"]
    assert hist[0]["frac_below_cutoff"] is None  # as in a CE run: warm-ups are shareable
    assert hist[1]["frac_below_cutoff"] is not None


def test_the_loss_switches_after_the_delay(data):
    x, y = data
    # PZ with cutoff 0.99 zeroes every sample with p_t <= 0.99: after the CE epoch the
    # training loss collapses to (nearly) zero.
    hist = train(cfg(epochs=2, loss="pz", loss_params={"cutoff": 0.99}, delay=1), x, y).history
    assert [r["loss_in_use"] for r in hist] == ["ce", "pz"]
    assert hist[0]["train_loss"] > 1.0
    assert hist[1]["train_loss"] < 0.05


def test_progress_only_on_a_terminal_and_not_quiet(data, capsys, monkeypatch):
    x, y = data
    train(cfg(epochs=1), x, y)  # captured stderr is not a terminal
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    train(cfg(epochs=1), x, y, quiet=True)
    assert capsys.readouterr().err == ""
    train(cfg(epochs=1), x, y, test_images=x[:10], test_labels=y[:10])
    err = capsys.readouterr().err
    assert "epoch 1/1 [ce]" in err and "test loss" in err and "samples/s" in err


# ----- determinism -----------------------------------------------------------------------------


def test_same_seed_bitwise_identical_other_seed_differs(data):
    x, y = data
    a = probs(train(cfg(seed=5), x, y), x)
    b = probs(train(cfg(seed=5), x, y), x)
    c = probs(train(cfg(seed=6), x, y), x)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)


def test_global_rng_and_threads_are_left_as_found(data):
    x, y = data
    torch.manual_seed(123)
    state = torch.get_rng_state()
    threads = torch.get_num_threads()
    train(cfg(epochs=1, threads=2), x, y)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.get_num_threads() == threads


# ----- checkpoints and resume ---------------------------------------------------------------------


def _strip_timing(history):
    return [{k: v for k, v in r.items() if k not in ("seconds", "samples_per_s")} for r in history]


def test_resume_is_bitwise_identical_to_an_uninterrupted_run(data, tmp_path):
    x, y = data
    config = cfg(epochs=3)
    full = train(config, x, y, checkpoint_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-001.pt",
        "epoch-002.pt",
        "epoch-003.pt",
    ]
    expected = probs(full, x)
    for k in (1, 2):
        resumed = train(config, x, y, resume_from=checkpoint_path(tmp_path, k))
        assert np.array_equal(probs(resumed, x), expected)
        assert _strip_timing(resumed.history) == _strip_timing(full.history)
    ckpt = load_checkpoint(checkpoint_path(tmp_path, 2))
    assert ckpt["epoch"] == 2 and len(ckpt["history"]) == 2
    assert ckpt["config"] == {k: v for k, v in full.config.items() if k not in RECORD_KEYS}
    # resuming the last checkpoint trains nothing and returns the same model
    done = train(config, x, y, resume_from=checkpoint_path(tmp_path, 3))
    assert np.array_equal(probs(done, x), expected)


@pytest.mark.parametrize(
    ("loss", "params", "delay", "k"),
    [
        ("blurry", {"gamma": 0.4}, 2, 2),
        ("blurry", {"gamma": 0.4}, 3, 2),
        ("pz", {"cutoff": 0.1}, 2, 1),
    ],
)
def test_shared_ce_warmup_equals_the_delayed_run_from_scratch(
    data, tmp_path, loss, params, delay, k
):
    x, y = data
    warm = cfg(epochs=k, loss="ce", delay=k)  # the warm-up run: CE for all k epochs
    train(warm, x, y, checkpoint_dir=tmp_path)
    target = cfg(epochs=4, loss=loss, loss_params=params, delay=delay)
    scratch = train(target, x, y)
    resumed = train(target, x, y, resume_from=checkpoint_path(tmp_path, k))
    assert np.array_equal(probs(resumed, x), probs(scratch, x))
    assert [r["loss_in_use"] for r in resumed.history] == [
        r["loss_in_use"] for r in scratch.history
    ]


class TestWarmupCompatible:
    def c(self, **kw):
        base = {"epochs": 10, "loss": "ce", "loss_params": {}, "delay": 0}
        return cfg(**{**base, **kw}).resolved()

    def test_allowed(self):
        warmup_compatible(self.c(), self.c(), 4)  # same config: any epoch
        warmup_compatible(self.c(threads=2), self.c(), 4)  # threads may differ
        warmup_compatible(self.c(), self.c(loss="pz", loss_params={"cutoff": 0.1}, delay=4), 4)
        warmup_compatible(
            self.c(loss="pz", loss_params={"cutoff": 0.1}, delay=6),
            self.c(loss="blurry", loss_params={"gamma": 0.3}, delay=5),
            5,
        )
        warmup_compatible(
            self.c(loss="pz", loss_params={"cutoff": 0.1}, delay=1),
            self.c(loss="pz", loss_params={"cutoff": 0.1}, delay=1, epochs=12),
            3,
        )
        warmup_compatible(self.c().to_dict(), self.c(), 0)

    @pytest.mark.parametrize(
        ("ckpt", "config", "epoch", "match"),
        [
            ({}, {"seed": 1}, 2, "seed"),
            ({}, {"lr": 1e-4}, 2, "lr"),
            ({}, {"precision": "bf16"}, 2, "precision"),
            ({}, {"scaling": "raw"}, 2, "scaling"),
            ({}, {"batch_size": 64}, 2, "batch_size"),
            ({}, {"epochs": 3}, 4, "epochs=3"),
            # the new config leaves its warm-up before the checkpoint's epoch
            ({}, {"loss": "pz", "loss_params": {"cutoff": 0.1}, "delay": 2}, 3, "epoch 2"),
            # the checkpoint's run was no longer in warm-up
            (
                {"loss": "pz", "loss_params": {"cutoff": 0.1}, "delay": 1},
                {"loss": "pz", "loss_params": {"cutoff": 0.1}, "delay": 2},
                2,
                "epoch 1",
            ),
            # same loss after the delay, other hyperparameter
            (
                {"loss": "pz", "loss_params": {"cutoff": 0.1}, "delay": 1},
                {"loss": "pz", "loss_params": {"cutoff": 0.2}, "delay": 1},
                2,
                "cutoff",
            ),
        ],
    )
    def test_refused(self, ckpt, config, epoch, match):
        with pytest.raises(ValueError, match=match):
            warmup_compatible(self.c(**ckpt), self.c(**config), epoch)


def test_resume_refuses_other_data_and_incompatible_config(data, tmp_path):
    x, y = data
    train(cfg(epochs=2), x, y, checkpoint_dir=tmp_path)
    ckpt = checkpoint_path(tmp_path, 2)
    other = y.copy()
    other[0] = (other[0] + 1) % 10
    with pytest.raises(ValueError, match="other data"):
        train(cfg(epochs=3), x, other, resume_from=ckpt)
    with pytest.raises(ValueError, match="seed"):
        train(cfg(epochs=3, seed=9), x, y, resume_from=ckpt)
    with pytest.raises(ValueError, match="epoch 1"):
        train(
            cfg(epochs=3, loss="pz", loss_params={"cutoff": 0.1}, delay=1), x, y, resume_from=ckpt
        )
    bad = tmp_path / "not-a-checkpoint.pt"
    bad.write_bytes(b"hello")
    with pytest.raises(ValueError, match="could not be read"):
        train(cfg(), x, y, resume_from=bad)
    with pytest.raises(ValueError, match="does not exist"):
        train(cfg(), x, y, resume_from=tmp_path / "missing.pt")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # atomic writes


def test_checkpoint_record_is_the_file_layout(data, tmp_path):
    x, y = data
    train(cfg(epochs=1), x, y, checkpoint_dir=tmp_path)
    path = checkpoint_path(tmp_path, 1)
    state = load_checkpoint(path)
    assert tuple(state) == REQUIRED_KEYS  # the record's fields, in order, after format/version
    record = Checkpoint.from_dict(state)
    assert record.epoch == 1 and record.to_dict().keys() == state.keys()
    # A file written as a plain dict (as before the record existed) resumes the same.
    legacy = tmp_path / "legacy" / "epoch-001.pt"
    save_checkpoint(legacy, dict(state))
    a = train(cfg(epochs=2), x, y, resume_from=path)
    b = train(cfg(epochs=2), x, y, resume_from=legacy)
    assert np.array_equal(probs(a, x), probs(b, x))


# ----- labels are checked once per dataset, not per batch -----------------------------------------


@pytest.fixture
def value_checks(monkeypatch):
    """Count calls of the losses' per-call target-value check (aminmax + int(): a GPU sync)."""
    calls = []
    original = loss_validation._check_target_values

    def counting(target, num_classes):
        calls.append(num_classes)
        return original(target, num_classes)

    monkeypatch.setattr(loss_validation, "_check_target_values", counting)
    return calls


@pytest.mark.parametrize(
    ("loss", "params", "delay"), [("ce", {}, 0), ("pz", {"cutoff": 0.05}, 1), ("sce", {}, 0)]
)
def test_engine_does_not_check_label_values_per_batch(data, value_checks, loss, params, delay):
    x, y = data
    config = cfg(epochs=2, loss=loss, loss_params=params, delay=delay)
    train(config, x, y, test_images=x[:40], test_labels=y[:40])
    assert value_checks == []
    make_loss(loss, **params)(torch.zeros(2, 10), torch.tensor([0, 9]))  # direct calls do
    assert value_checks == [10]


def test_engine_still_refuses_bad_labels_and_too_few_logits(data, value_checks):
    x, y = data
    bad = y.copy()
    bad[3] = 10
    with pytest.raises(ValueError, match=r"values from 0 to 10"):
        train(cfg(), x, bad, num_classes=10)
    with pytest.raises(ValueError, match=r"`target`.*\[0, 5\).*up to 9"):
        train(cfg(epochs=1), x, y, model=TinyCNN(num_classes=5))
    assert value_checks == []


# ----- continuing a given model -------------------------------------------------------------------


def _moved(params, before) -> torch.Tensor:
    deltas = torch.cat(
        [(p.detach() - b).abs().flatten() for p, b in zip(params, before, strict=True)]
    )
    assert (deltas > 0).float().mean() > 0.5
    return deltas[deltas > 0]


def test_given_model_is_trained_in_place_with_a_fresh_optimizer(data, tmp_path):
    x, y = data
    x, y = x[:64], y[:64]
    one_step = cfg(epochs=1, batch_size=64, lr=1e-3)  # one batch: one optimizer step
    first = train(one_step, x, y)
    before = [p.detach().clone() for p in first.model.parameters()]
    second = train(one_step, x, y, model=first.model)
    assert second.model is first.model
    # Adam's first step moves each weight by lr * g / (|g| + eps), i.e. by lr: the
    # optimizer is fresh.
    np.testing.assert_allclose(
        _moved(second.model.parameters(), before).median().item(), 1e-3, rtol=1e-3
    )
    # Control: the second step of one run (Adam's moments carried) is not of size lr.
    run = train(cfg(epochs=2, batch_size=64, lr=1e-3), x, y, checkpoint_dir=tmp_path)
    state = load_checkpoint(checkpoint_path(tmp_path, 1))["model_state"]
    after_one = [state[name] for name, _ in run.model.named_parameters()]
    carried = _moved(run.model.parameters(), after_one).median().item()
    assert abs(carried - 1e-3) > 1e-5


def test_given_bare_network_gets_wrapped_and_scaling_must_match(data):
    x, y = data
    net = TinyCNN(num_classes=10)
    res = train(cfg(epochs=1), x, y, model=net)
    assert isinstance(res.model, ImageClassifier) and res.model.net is net
    with pytest.raises(ValueError, match="scaling"):
        train(cfg(epochs=1, scaling="raw"), x, y, model=res.model)


# ----- scaling, precision ------------------------------------------------------------------------


def test_scaling_raw_vs_standardize_recorded(data):
    x, y = data
    std_run = train(cfg(epochs=1), x, y)
    raw_run = train(cfg(epochs=1, scaling="raw"), x, y)
    assert std_run.config["scaling"] == "standardize" and raw_run.config["scaling"] == "raw"
    s = std_run.model.scaling
    np.testing.assert_allclose(s.mean.item(), x.mean(), rtol=1e-5)
    np.testing.assert_allclose(s.std.item(), x.std(), rtol=1e-4)
    assert raw_run.model.scaling.mean.item() == 0.0 and raw_run.model.scaling.std.item() == 1.0
    assert not np.allclose(probs(std_run, x), probs(raw_run, x))


@pytest.mark.parametrize("precision", ["bf16", "amp"])
def test_bf16_path_runs_and_is_recorded(data, precision):
    x, y = data
    res = train(
        cfg(epochs=2, precision=precision, channels_last=True),
        x,
        y,
        test_images=x[:32],
        test_labels=y[:32],
    )
    assert res.config["precision"] == "bf16"  # "amp" on a CPU is bf16 autocast
    assert res.config["channels_last"] is True
    p = probs(res, x)
    assert np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    assert all(math.isfinite(r["train_loss"]) for r in res.history)


# ----- predict_proba ---------------------------------------------------------------------------


def test_predict_proba_rows_sum_to_one_in_eval_mode(data):
    x, y = data
    res = train(cfg(epochs=1), x, y)
    res.model.train()
    p = predict_proba(res.model, x, batch_size=50)
    assert res.model.training  # mode restored
    assert p.shape == (N, 10) and p.dtype == np.float64
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-12)
    assert np.array_equal(p, predict_proba(res.model, x, batch_size=50))  # eval: no dropout
    np.testing.assert_allclose(p, predict_proba(res.model, torch.from_numpy(x)), atol=1e-6)
    assert predict_proba(res.model, x[:0]).shape == (0, 10)
    with pytest.raises(ValueError, match="batch_size"):
        predict_proba(res.model, x, batch_size=0)


# ----- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("epochs", 0),
        ("epochs", True),
        ("batch_size", 0),
        ("lr", -1.0),
        ("lr", float("nan")),
        ("optimizer", "rmsprop"),
        ("loss", "hinge"),
        ("delay", -1),
        ("seed", -1),
        ("seed", 2**63),
        ("scaling", "minmax"),
        ("device", "tpu"),
        ("precision", "fp16"),
        ("channels_last", "yes"),
        ("threads", 0),
        ("model", "resnet"),
    ],
)
def test_invalid_config_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"`{field}`"):
        TrainConfig(**{field: value})


@pytest.mark.parametrize(
    ("loss", "params", "match"),
    [
        ("ce", {"gamma": 0.3}, "gamma"),
        ("blurry", {}, "gamma"),
        ("pz", {"cutoff": 1.5}, "cutoff"),
        ("ce", {"reduction": "sum"}, "reduction"),
        ("ce", [("a", 1)], "loss_params"),
    ],
)
def test_invalid_loss_params(loss, params, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(loss=loss, loss_params=params)


def test_config_dict_round_trip_and_unknown_keys():
    c = TrainConfig(loss="blurry", loss_params={"gamma": 0.4}, delay=2, threads=3)
    d = c.to_dict()
    assert TrainConfig.from_dict(d) == c
    d["loss_params"]["gamma"] = 0.9
    assert c.loss_params == {"gamma": 0.4}  # to_dict copies
    with pytest.raises(ValueError, match="learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_invalid_data(data):
    x, y = data
    with pytest.raises(ValueError, match=r"values from 0 to 9"):
        train(cfg(), x, y, num_classes=5)
    with pytest.raises(ValueError, match="square"):
        train(cfg(), x[:, :, :20], y)
    with pytest.raises(ValueError, match="labels"):
        train(cfg(), x, y[:10])
    with pytest.raises(ValueError, match="test_labels"):
        train(cfg(), x, y, test_images=x)
    with pytest.raises(ValueError, match="TrainConfig"):
        train({"epochs": 1}, x, y)


# ----- overfit point ----------------------------------------------------------------------------


def test_first_rise():
    assert first_rise([0.5, 0.3, 0.2, 0.25, 0.1]) == 4
    assert first_rise([0.5, 0.4, 0.45, 0.3, 0.35]) == 3
    assert first_rise([3.0, 2.0, 1.0]) is None
    assert first_rise([]) is None


def test_crossover():
    assert crossover([0.9, 0.5, 0.2], [0.6, 0.4, 0.3]) == 3
    assert crossover([0.9, 0.3, 0.5, 0.2], [0.6, 0.4, 0.4, 0.3]) == 2
    assert crossover([0.1, 0.1], [0.5, 0.5]) is None  # below from the start: no crossing
    assert crossover([0.9, 0.8], [0.5, 0.5]) is None
    with pytest.raises(ValueError):
        crossover([0.1], [0.2, 0.3])


@pytest.fixture
def fake_dataset(monkeypatch):
    calls = []

    def load_dataset(name, split="train", *, root=None, download=True):
        calls.append((name, split))
        return make_data(N if split == "train" else 100, seed=0 if split == "train" else 1)

    monkeypatch.setattr(robustloss.run.overfit, "load_dataset", load_dataset)
    return calls


def test_find_overfit_point_on_tiny_data(fake_dataset):
    out = find_overfit_point("mnist", epochs=3, subset=200, model="tiny", threads=1, batch_size=32)
    assert fake_dataset == [("mnist", "train"), ("mnist", "test")]
    assert out["n_train"] == 200 and out["n_test"] == 100
    assert len(out["train_loss"]) == len(out["test_loss"]) == len(out["test_acc"]) == 3
    assert out["overfit_epoch"] == first_rise(out["test_loss"])
    assert out["crossover_epoch"] == crossover(out["train_loss"], out["test_loss"])
    assert out["best_epoch"] == int(np.argmin(out["test_loss"])) + 1
    assert out["config"]["loss"] == "ce" and out["config"]["epochs"] == 3
    json.dumps(out)  # JSON-ready
    with pytest.raises(ValueError, match="loss"):
        find_overfit_point("mnist", epochs=2, loss="pz")


def test_overfit_point_cli(fake_dataset, capsys):
    parser = argparse.ArgumentParser()
    train_cli.register(parser.add_subparsers(dest="command"))
    common = ["--epochs", "2", "--subset", "64", "--threads", "1", "--quiet"]
    args = parser.parse_args(["overfit-point", "--dataset", "fashion-mnist", *common, "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"] == "fashion-mnist" and len(out["test_loss"]) == 2
    assert out["config"]["model"] == "paper-cnn" and out["config"]["threads"] == 1
    args = parser.parse_args(["overfit-point", "--dataset", "mnist", *common])
    assert args.func(args) == 0
    text = capsys.readouterr().out
    assert "test loss" in text and len(text.splitlines()) == 5  # header, columns, 2 rows, verdict
    with pytest.raises(SystemExit):
        parser.parse_args(["overfit-point", "--dataset", "cifar10"])
    args = parser.parse_args(["overfit-point", "--dataset", "mnist", "--epochs", "0"])
    with pytest.raises(ValueError, match="`epochs`"):
        args.func(args)


# ----- label-free early stopping ---------------------------------------------------------------


def test_holdout_split_is_stratified_on_the_given_labels_and_seeded():
    from robustloss.train.early_stop import holdout_split

    labels = torch.arange(200) % 4  # 50 per class
    train_idx, held = holdout_split(labels, 0.1, seed=3)
    assert torch.equal(torch.bincount(labels[held], minlength=4), torch.tensor([5, 5, 5, 5]))
    assert sorted(train_idx.tolist() + held.tolist()) == list(range(200))
    assert torch.equal(holdout_split(labels, 0.1, seed=3)[1], held)
    assert not torch.equal(holdout_split(labels, 0.1, seed=4)[1], held)
    with pytest.raises(ValueError, match="holds out 0"):
        holdout_split(torch.tensor([0, 1, 2]), 0.1, seed=0)


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    from robustloss.train.early_stop import EarlyStopping

    net = torch.nn.Linear(2, 2)
    stopper = EarlyStopping(patience=2, first_epoch=1)
    accs = [0.9, 0.5, 0.7, 0.7, 0.6]  # epoch 0 does not count (a CE warm-up epoch)
    stops = []
    for epoch, acc in enumerate(accs):
        with torch.no_grad():
            net.weight.fill_(epoch)
        stops.append(stopper.update(epoch, acc, net))
    assert stops == [False, False, False, False, True]
    assert stopper.best_epoch == 3 and stopper.best_acc == 0.7  # ties keep the earlier
    stopper.restore(net)
    assert torch.all(net.weight == 2)


def test_early_stop_never_sees_the_true_labels(data, monkeypatch):
    """Same chosen epoch and bitwise probabilities with the true labels, other ones, none."""
    import robustloss.train.engine as engine

    x, y = data
    noisy = y.copy()
    noisy[:60] = (noisy[:60] + 3) % 10
    seen = []
    real_split = engine.holdout_split

    def spy(labels, fraction, seed):
        seen.append(labels.clone())
        return real_split(labels, fraction, seed)

    monkeypatch.setattr(engine, "holdout_split", spy)
    config = cfg(epochs=6, early_stop=True, holdout=0.25, patience=1)
    runs = [
        train(config, x, noisy, true_labels=t)
        for t in (y, None, np.random.default_rng(0).integers(0, 10, y.shape[0]))
    ]
    chosen = {r.config["chosen_epoch"] for r in runs}
    assert len(chosen) == 1
    ref = probs(runs[0], x)
    for r in runs[1:]:
        assert np.array_equal(probs(r, x), ref)
        assert [h["holdout_acc"] for h in r.history] == [
            h["holdout_acc"] for h in runs[0].history
        ]
    assert all(torch.equal(s, torch.as_tensor(noisy)) for s in seen)  # only the given labels


def test_early_stop_returns_the_chosen_epochs_weights(data):
    x, y = data
    long = train(cfg(epochs=5, early_stop=True, holdout=0.25, patience=5), x, y)
    chosen = long.config["chosen_epoch"]
    assert long.config["epochs_run"] == 5 and 1 <= chosen <= 5
    accs = [h["holdout_acc"] for h in long.history]
    assert chosen == int(np.argmax(accs)) + 1 and all(0 <= a <= 1 for a in accs)
    short = train(cfg(epochs=chosen, early_stop=True, holdout=0.25, patience=5), x, y)
    assert np.array_equal(probs(short, x), probs(long, x))  # later epochs leave no trace


def test_early_stop_tests_the_returned_model_and_refuses_checkpoints(data, tmp_path):
    x, y = data
    res = train(
        cfg(epochs=3, early_stop=True, holdout=0.25, patience=1),
        x, y, test_images=x[:50], test_labels=y[:50],
    )
    rec = res.history[res.config["chosen_epoch"] - 1]
    assert rec["test_acc"] == res.test_acc is not None
    with pytest.raises(ValueError, match="early_stop"):
        train(cfg(early_stop=True), x, y, checkpoint_dir=tmp_path)


@pytest.mark.parametrize(
    ("field", "value"),
    [("test_every", -1), ("early_stop", "yes"), ("holdout", 0.0), ("holdout", 1.0),
     ("patience", 0), ("channels_last", "auto")],
)
def test_invalid_new_fields_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})
