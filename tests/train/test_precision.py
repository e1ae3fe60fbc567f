"""precision="auto": the rule (capability checks mocked), what runs record, the bf16 warning."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from robustloss.run.config import RunConfig, config_hash
from robustloss.run.pipeline import run_experiment, train_config_for
from robustloss.sweeps.results import StoredTrial, precision_mix, trial_table
from robustloss.train import TrainConfig, predict_proba, train
from robustloss.train import precision as prec
from robustloss.train.config import RECORD_KEYS
from sweep_fakes import stored_trial
from synthetic import synthetic_images


@pytest.fixture
def machine(monkeypatch):
    """Set the capability checks: machine(native_bf16=..., cuda_bf16=...)."""
    prec._WARNED.clear()

    def set_(*, native_bf16: bool = False, cuda_bf16: bool = False):
        monkeypatch.setattr(prec, "cpu_has_native_bf16", lambda: native_bf16)
        monkeypatch.setattr(prec, "cuda_has_bf16", lambda: cuda_bf16)

    yield set_
    prec._WARNED.clear()


# ----- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "device", "native", "cuda_bf16", "expected", "channels_last"),
    [
        ("auto", "cpu", False, False, "fp32", True),  # AVX2 / AVX512 without BF16
        ("auto", "cpu", True, False, "bf16", True),  # AVX512-BF16 or AMX
        ("auto", "cuda", False, True, "bf16", False),
        ("auto", "cuda", True, False, "amp", False),  # a GPU without bf16: float16 AMP
        ("auto", "mps", True, False, "fp32", False),
        ("fp32", "cpu", True, False, "fp32", False),  # explicit settings do what they say
        ("fp32", "cpu", False, False, "fp32", False),  # ... in the layout of earlier runs
        ("bf16", "cpu", False, False, "bf16", False),
        ("bf16", "cpu", True, False, "bf16", False),  # explicit bf16 keeps its layout
        ("amp", "cpu", False, False, "bf16", False),  # --preset paper on a CPU: as before
        ("amp", "cuda", False, True, "amp", False),
    ],
)
def test_auto_rule(machine, requested, device, native, cuda_bf16, expected, channels_last):
    machine(native_bf16=native, cuda_bf16=cuda_bf16)
    choice = prec.resolve_precision(requested, device)
    assert (choice.precision, choice.channels_last) == (expected, channels_last)
    assert choice.requested == requested and choice.native_bf16 is native
    assert choice.memory_format == ("channels_last" if channels_last else "contiguous")


@pytest.mark.parametrize("native", [False, True])
def test_an_explicit_memory_format_wins(machine, native):
    machine(native_bf16=native)
    assert prec.resolve_precision("auto", "cpu", channels_last=True).channels_last is True
    assert prec.resolve_precision("auto", "cpu", channels_last=False).channels_last is False


@pytest.mark.parametrize(
    ("avx512_bf16", "amx", "expected"),
    [(False, False, False), (True, False, True), (False, True, True), (True, True, True)],
)
def test_native_bf16_is_avx512_bf16_or_amx(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert prec.cpu_has_native_bf16() is expected


def test_cpu_capability_is_torchs():
    assert prec.cpu_capability() == torch.backends.cpu.get_cpu_capability()


def test_bad_requests_name_the_value():
    with pytest.raises(ValueError, match="fp16"):
        prec.resolve_precision("fp16", "cpu")
    with pytest.raises(ValueError, match="xla"):
        prec.resolve_precision("auto", "xla")


def test_defaults_are_auto():
    assert TrainConfig().precision == "auto" and TrainConfig().channels_last is None
    assert RunConfig().precision == "auto" and RunConfig().channels_last is None
    assert train_config_for(RunConfig()).precision == "auto"
    # the hash of a default run changed with the default (accepted); it is still stable
    assert config_hash(RunConfig()) == config_hash(RunConfig(precision="auto"))
    assert config_hash(RunConfig()) != config_hash(RunConfig(precision="fp32"))


# ----- what a run records -----------------------------------------------------------------------


def _data(n: int = 96):
    return synthetic_images(n, 0)


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{"epochs": 1, "batch_size": 32, "model": "tiny", "threads": 1, **kw})


@pytest.mark.parametrize(
    ("native", "precision", "memory_format"),
    [(False, "fp32", "channels_last"), (True, "bf16", "channels_last")],
)
def test_train_records_the_resolved_precision(machine, native, precision, memory_format):
    machine(native_bf16=native)
    x, y = _data()
    res = train(_cfg(), x, y)
    c = res.config
    assert c["precision"] == precision and c["precision_requested"] == "auto"
    assert c["memory_format"] == memory_format
    assert c["channels_last"] is (memory_format == "channels_last")
    assert c["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert c["native_bf16"] is native
    assert set(RECORD_KEYS) <= set(c)
    # the recorded config rebuilds the resolved settings (the facts are dropped)
    assert TrainConfig.from_dict(c).precision == precision


def test_run_folder_and_summary_record_it(machine, tmp_path):
    machine(native_bf16=False)
    images, labels = _data(120)
    npz = tmp_path / "toy.npz"
    np.savez(npz, images=images, labels=labels)
    settings = {"data": str(npz), "model": "tiny", "epochs": 1, "threads": 1, "device": "cpu"}
    summary = run_experiment(RunConfig.from_dict(settings), tmp_path / "run", quiet=True)
    meta = json.loads((tmp_path / "run" / "config.json").read_text())
    assert meta["config"]["precision"] == "auto"  # the request (the trial's identity)
    tc = meta["train_config"]
    assert tc["precision"] == "fp32" and tc["precision_requested"] == "auto"
    assert tc["memory_format"] == "channels_last" and tc["native_bf16"] is False
    assert tc["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert summary.precision_used == "fp32" and summary.memory_format == "channels_last"
    assert summary.cpu_capability == tc["cpu_capability"] and summary.native_bf16 is False
    assert summary.chosen_epochs == [1]
    # ... and so does a sweep trial's flat row (summary scalars are columns)
    row = trial_table([StoredTrial(hash="h", sweep="s", status="done", config=summary.config,
                                   summary=summary)])[0]
    assert row["precision_used"] == "fp32" and row["cpu_capability"] == tc["cpu_capability"]


def _trial(precision_used, memory_format="contiguous", capability="AVX2"):
    return stored_trial({}, precision_used=precision_used, memory_format=memory_format,
                        cpu_capability=capability)


def test_precision_mix_warns_only_when_trials_resolved_differently():
    assert precision_mix([_trial("fp32"), _trial("fp32", capability="AVX512")]) is None
    assert precision_mix([_trial("fp32"), stored_trial({})]) is None
    warning = precision_mix([_trial("fp32"), _trial("fp32"),
                             _trial("bf16", "channels_last", "AVX512")])
    assert warning is not None
    assert "2 in fp32 (contiguous, CPU AVX2)" in warning
    assert "1 in bf16 (channels_last, CPU AVX512)" in warning


# ----- the warning ------------------------------------------------------------------------------


def test_bf16_without_native_support_warns_once_with_the_factor(machine, capsys):
    machine(native_bf16=False)
    calls = []

    def measure():
        calls.append(1)
        return 11.25

    choice = prec.resolve_precision("bf16", "cpu")
    line = prec.warn_if_slow(choice, measure=measure)
    err = capsys.readouterr().err
    assert line is not None and err == line + "\n" and "\n" not in line
    assert "11.2x" in line and choice.cpu_capability in line
    assert prec.warn_if_slow(choice, measure=measure) is None  # once per process
    assert calls == [1] and capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("requested", "device", "native"),
    [("auto", "cpu", False), ("fp32", "cpu", False), ("bf16", "cpu", True), ("amp", "cuda", False)],
)
def test_no_warning_where_bf16_is_native_or_not_used(machine, capsys, requested, device, native):
    machine(native_bf16=native)

    def measure():
        raise AssertionError("nothing to measure")

    assert prec.warn_if_slow(prec.resolve_precision(requested, device), measure=measure) is None
    assert capsys.readouterr().err == ""


def test_train_in_bf16_on_a_cpu_without_it_prints_the_warning(machine, capsys, monkeypatch):
    machine(native_bf16=False)
    monkeypatch.setattr(prec, "measure_bf16_slowdown", lambda: 9.0)
    x, y = _data(64)
    train(_cfg(precision="bf16"), x, y, quiet=True)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "9.0x the time of fp32" in lines[0]


def test_measured_slowdown_is_a_positive_factor():
    factor = prec.measure_bf16_slowdown(repeats=1)
    assert np.isfinite(factor) and factor > 0


def test_fp32_channels_last_is_deterministic_and_the_same_function():
    """auto's fp32 layout on a CPU: bitwise repeatable; within rounding of the contiguous one."""
    x, y = synthetic_images(96, 2)
    cfg = _cfg(epochs=2, model="paper-cnn", precision="fp32", channels_last=True, seed=3)
    a, b = train(cfg, x, y, quiet=True), train(cfg, x, y, quiet=True)
    assert a.config["memory_format"] == "channels_last"
    pa = predict_proba(a.model, x)
    assert np.array_equal(pa, predict_proba(b.model, x))
    contiguous = train(_cfg(epochs=2, model="paper-cnn", precision="fp32", seed=3), x, y,
                       quiet=True)
    assert contiguous.config["memory_format"] == "contiguous"
    assert np.allclose(pa, predict_proba(contiguous.model, x), atol=1e-3)


# ----- evaluation never changes the weights -----------------------------------------------------


def test_test_split_every_epoch_or_at_the_end_gives_bitwise_equal_probabilities(machine):
    machine(native_bf16=False)
    x, y = _data(128)
    xt, yt = synthetic_images(48, 5)
    every = train(_cfg(epochs=3, test_every=1), x, y, test_images=xt, test_labels=yt)
    at_end = train(_cfg(epochs=3), x, y, test_images=xt, test_labels=yt)
    assert np.array_equal(predict_proba(every.model, x), predict_proba(at_end.model, x))
    assert [r["train_loss"] for r in every.history] == [r["train_loss"] for r in at_end.history]
    assert all(r["test_acc"] is not None for r in every.history)
    assert [r["test_acc"] is None for r in at_end.history] == [True, True, False]
    assert at_end.history[-1]["test_loss"] == every.history[-1]["test_loss"]
    assert at_end.test_acc == every.test_acc == every.history[-1]["test_acc"]


# ----- run / detect flags -----------------------------------------------------------------------


def test_run_flags_reach_the_training_config():
    import argparse

    from robustloss.cli import run as run_cli

    parser = argparse.ArgumentParser()
    run_cli.register(parser.add_subparsers())
    args = parser.parse_args(
        ["run", "--early-stop", "--holdout", "0.2", "--patience", "3", "--test-every", "1",
         "--precision", "fp32", "--no-channels-last"]
    )
    cfg = RunConfig.from_dict(run_cli.settings_from_args(args))
    tc = train_config_for(cfg)
    assert (tc.early_stop, tc.holdout, tc.patience, tc.test_every) == (True, 0.2, 3, 1)
    assert (tc.precision, tc.channels_last) == ("fp32", False)
    default = RunConfig.from_dict(run_cli.settings_from_args(parser.parse_args(["run"])))
    assert (default.precision, default.channels_last) == ("auto", None)
    assert default.early_stop is False
    paper = parser.parse_args(["detect", "--data", "x.npz", "--preset", "paper"])
    assert run_cli.settings_from_args(paper)["precision"] == "amp"  # the preset is kept


@pytest.mark.parametrize(
    ("settings", "match"),
    [({"holdout": 1.5}, "holdout"), ({"patience": 0}, "patience"),
     ({"test_every": -2}, "test_every"), ({"early_stop": 1}, "early_stop"),
     ({"channels_last": "x"}, "channels_last"), ({"precision": "fp16"}, "precision")],
)
def test_run_config_checks_the_new_fields(settings, match):
    with pytest.raises(ValueError, match=match):
        RunConfig.from_dict(settings)
