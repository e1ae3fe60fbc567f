"""``robustloss run`` and ``robustloss detect`` through the real CLI entry point (tiny data)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import robustloss.cli as cli
from robustloss.cli import run as run_cli
from robustloss.cli import run_args
from robustloss.losses import CONFIG_LOSS_PARAMS, LOSS_PARAM_SPECS
from robustloss.run import pipeline
from robustloss.run.config import PRESETS, RunConfig, config_hash
from robustloss.run.defaults import DETECT_DEFAULTS, FEATURE_DEFAULTS
from synthetic import synthetic_images

TINY = ["--model", "tiny", "--epochs", "2", "--batch-size", "32", "--lr", "0.01",
        "--threads", "1", "--device", "cpu"]  # fmt: skip


@pytest.fixture(autouse=True)
def _register_run(monkeypatch):
    """The CLI with this module's commands registered (cli/__init__ lists its modules)."""
    modules = tuple(dict.fromkeys((*cli.COMMAND_MODULES, "robustloss.cli.run")))
    monkeypatch.setattr(cli, "COMMAND_MODULES", modules)


@pytest.fixture
def npz(tmp_path) -> Path:
    images, labels = synthetic_images(180, 0)
    path = tmp_path / "toy.npz"
    np.savez(path, images=images, labels=labels, class_names=np.array(["x", "y", "z"]))
    return path


def main(argv: list[str]) -> int:
    return cli.main(argv)


def test_run_json_prints_only_the_summary(tmp_path, npz, capsys):
    out = tmp_path / "run"
    code = main(["run", "--data", str(npz), "--noise", "0.2", *TINY, "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)  # the whole of stdout is one JSON document
    assert captured.out.strip().count("\n") == 0
    for key in (
        "precision",
        "recall",
        "f1",
        "flagged",
        "correct",
        "corrupted",
        "test_acc",
        "seconds",
        "config",
    ):
        assert key in summary
    assert summary["corrupted"] == 36
    assert summary["config"]["data"] == str(npz) and summary["config"]["dataset"] is None
    assert (out / "report.html").is_file() and (out / "suspects.png").is_file()
    assert json.loads((out / "summary.json").read_text())["f1"] == summary["f1"]
    # progress and the hint go to stderr
    assert "robustloss run --preset paper" in captured.err


def test_run_human_output_and_report(tmp_path, npz, capsys):
    out = tmp_path / "run"
    assert main(["run", "--data", str(npz), *TINY, "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "precision" in text and "F1" in text and str(out) in text
    assert "robustloss run --preset paper --data" in text  # how to run the full setting
    html = (out / "report.html").read_text()
    assert "Detection scores" in html and "data:image/png;base64," in html
    png = Image.open(out / "suspects.png")
    assert png.size[0] > 100 and png.size[1] > 100


def test_report_shows_flagged_labels_that_were_not_corrupted(tmp_path, capsys):
    # A dataset with errors of its own (as MNIST has a few): 6 labels wrong before we corrupt.
    images, labels = synthetic_images(180, 0)
    labels[:6] = (labels[:6] + 1) % 3
    npz = tmp_path / "own-errors.npz"
    np.savez(npz, images=images, labels=labels)
    out = tmp_path / "run"
    assert main(["run", "--data", str(npz), *TINY, "--out", str(out), "--quiet"]) == 0
    with (out / "detections.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    expected = [int(r["index"]) for r in rows if r["flagged"] == "1" and r["corrupted"] == "0"]
    with np.load(out / "suspect_images.npz") as kept:
        assert kept["unexpected_indices"].tolist() == expected[:48]
        images = np.load(npz)["images"]
        np.testing.assert_array_equal(kept["unexpected_images"], images[expected[:48]])
    html = (out / "report.html").read_text()
    assert set(expected) & set(range(6)), "the dataset's own wrong labels should be flagged"
    assert (out / "unexpected.png").is_file()
    assert "Flagged, but not corrupted on purpose" in html


def test_default_out_folder_is_named_after_the_run(tmp_path, npz, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["run", "--data", str(npz), *TINY, "--epochs", "1", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    folder = Path(summary["out_dir"])
    assert folder.parent == Path("runs")
    assert folder.name == f"run-toy-ce-{summary['config_hash'][:10]}"
    assert (tmp_path / folder / "detections.csv").is_file()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    run_cli.register(sub)
    return parser.parse_args(argv)


def test_preset_fills_in_and_explicit_flags_win():
    settings = run_cli.settings_from_args(parse(["run", "--preset", "paper", "--lr", "0.01"]))
    assert settings["lr"] == 0.01
    for key in ("scaling", "protocol", "noise_kind", "noise_seed", "folds", "batch_size"):
        assert settings[key] == PRESETS["paper"][key]
    plain = run_cli.settings_from_args(parse(["run", "--loss", "blurry", "--gamma", "0.4"]))
    assert plain == {"loss": "blurry", "gamma": 0.4}  # defaults stay RunConfig's
    data = run_cli.settings_from_args(parse(["run", "--data", "x.npz"]))
    assert data == {"data": "x.npz", "dataset": None}
    flags = run_cli.settings_from_args(
        parse(
            [
                "run",
                "--no-detach-weight",
                "--noise-kind",
                "bernoulli",
                "--rank-by",
                "normalized_margin",
            ]
        )
    )
    assert flags == {
        "detach_weight": False,
        "noise_kind": "bernoulli",
        "rank_by": "normalized_margin",
    }


def one_line_error(capsys, argv: list[str], match: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]  # progress lines may come before it
    assert last.startswith(f"robustloss {argv[0]}: error: ")
    assert match in last, err


def test_errors_are_one_line_with_exit_2(tmp_path, npz, capsys):
    one_line_error(capsys, ["run", "--dataset", "cifar10"], "`dataset` (--dataset)")
    one_line_error(capsys, ["run", "--noise", "1.5"], "rate in [0, 1], but got 1.5")
    one_line_error(
        capsys,
        ["run", "--loss", "ce", "--gamma", "0.4"],
        "`gamma` (--gamma) does not belong to loss 'ce'",
    )
    one_line_error(capsys, ["run", "--loss", "blurry"], "gamma")
    one_line_error(capsys, ["run", "--folds", "1"], "`folds` (--folds)")
    floats = tmp_path / "floats.npz"
    np.savez(floats, images=np.zeros((10, 28, 28), np.uint8), labels=np.linspace(0, 1, 10))
    one_line_error(capsys, ["run", "--data", str(floats), *TINY], "labels")
    lonely = tmp_path / "lonely"
    (lonely / "cats").mkdir(parents=True)
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(lonely / "cats" / "1.png")
    one_line_error(capsys, ["detect", "--data", str(lonely), *TINY], "need at least 2")
    one_line_error(capsys, ["run", "--data", str(tmp_path / "missing.npz")], "does not exist")


def test_existing_different_run_needs_overwrite(tmp_path, npz, capsys):
    out = tmp_path / "run"
    base = ["run", "--data", str(npz), *TINY, "--epochs", "1", "--out", str(out), "--quiet"]
    assert main(base) == 0
    one_line_error(capsys, [*base, "--seed", "5"], "holds a different run")
    one_line_error(capsys, base, "already holds this finished run")
    assert main([*base, "--seed", "5", "--overwrite"]) == 0
    assert json.loads((out / "config.json").read_text())["config"]["seed"] == 5


def test_detect_on_an_image_folder(tmp_path, capsys):
    images, labels = synthetic_images(90, 3)
    folder = tmp_path / "my images"
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        d = folder / ["ring", "bar", "dot"][lab]
        d.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(d / f"img{i:03d}.png")
    out = tmp_path / "det"
    code = main(
        ["detect", "--data", str(folder), *TINY, "--folds", "2", "--out", str(out), "--json"]
    )
    captured = capsys.readouterr()
    assert code == 0
    summary = json.loads(captured.out)
    assert summary["command"] == "detect"
    assert summary["config"]["protocol"] == "cv"  # detect's defaults
    assert summary["config"]["loss"] == "auto"
    # 90 images hold out 9 (too few to choose on): the default setting, said and recorded.
    assert summary["auto"]["settings"] == {"loss": "blurry", "gamma": 0.4, "delay": 0,
                                           "epochs": 2}  # fmt: skip
    assert "no search" in summary["auto"]["why"] and "--loss auto" in captured.err
    assert set(summary["estimated_errors_per_class"]) == {"bar", "dot", "ring"}
    with (out / "detections.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 90
    assert {"path", "given_class", "suggested_class", "rank_score", "flagged"} <= set(rows[0])
    assert all(Path(r["path"]).parent.name == r["given_class"] for r in rows)
    assert (out / "report.html").is_file() and (out / "suspects.png").is_file()
    assert "run --preset paper" not in captured.err


def test_detect_with_an_explicit_loss_drops_the_blurry_defaults(tmp_path, capsys):
    images, labels = synthetic_images(60, 1)
    npz = tmp_path / "own.npz"
    np.savez(npz, images=images, labels=labels)
    out = tmp_path / "det"
    argv = ["detect", "--data", str(npz), *TINY, "--epochs", "1", "--loss", "ce",
            "--folds", "2", "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    cfg = json.loads(capsys.readouterr().out)["config"]
    assert (cfg["loss"], cfg["gamma"], cfg["protocol"]) == ("ce", None, "cv")


def test_fast_cpu_setting_reaches_the_training_config(tmp_path, npz, capsys):
    out = tmp_path / "fast"
    argv = ["run", "--data", str(npz), *TINY, "--epochs", "1", "--precision", "bf16",
            "--channels-last", "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["config"]["channels_last"] is True
    train_config = json.loads((out / "config.json").read_text())["train_config"]
    assert train_config["channels_last"] is True and train_config["precision"] == "bf16"
    assert np.isfinite(np.load(out / "pred_probs.npy")).all()


def _help(command: str, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    return " ".join(capsys.readouterr().out.split())  # argparse's wrapping undone


def test_each_commands_help_shows_its_own_defaults(capsys):
    run_help = _help("run", capsys)
    assert "--dry-run shows the plan) (default: ce)" in run_help
    assert "not recommended); default: in-sample" in run_help
    detect_help = _help("detect", capsys)
    assert (
        "(default: auto; on --features, or with a loss parameter but no --loss: blurry "
        "--gamma 0.4)" in detect_help
    )
    assert "not recommended); default: cv" in detect_help
    assert "(default: ce)" not in detect_help
    # The loss flags come from the loss parameter specs, with their help.
    for name in CONFIG_LOSS_PARAMS:
        for text in (run_help, detect_help):
            assert f"--{name.replace('_', '-')}" in text
            assert LOSS_PARAM_SPECS[name].help in text
    assert "--no-detach-weight" in run_help


def test_detect_defaults_in_help_are_the_ones_it_uses():
    cfg = run_args.detect_config(parse(["detect", "--data", "x.npz"]))
    assert (cfg.loss, cfg.gamma, cfg.protocol) == ("auto", None, "cv")
    cfg = run_args.detect_config(parse(["detect", "--data", "x.npz", "--gamma", "0.3"]))
    assert (cfg.loss, cfg.gamma) == ("blurry", 0.3)  # a parameter without --loss: Blurry's
    cfg = run_args.detect_config(parse(["detect", "--data", "x.npz", "--gamma", "auto"]))
    assert (cfg.loss, cfg.auto_param()) == ("blurry", "gamma")
    cfg = run_args.detect_config(parse(["detect", "--data", "x.npz", "--delay", "2"]))
    assert (cfg.loss, cfg.gamma, cfg.delay) == ("blurry", 0.4, 2)
    cfg = run_args.detect_config(parse(["detect", "--features", "f.npy", "--labels", "l.npy"]))
    assert (cfg.loss, cfg.gamma, cfg.protocol) == ("blurry", 0.4, "cv")
    assert (cfg.batch_size, cfg.lr) == (FEATURE_DEFAULTS["batch_size"], FEATURE_DEFAULTS["lr"])
    cfg = run_args.detect_config(parse(["detect", "--data", "x.npz", "--preset", "paper"]))
    assert (cfg.protocol, cfg.lr, cfg.loss, cfg.noise) == ("paper-cv", 1e-4, "auto", 0.0)
    help_defaults = run_args.DETECT_HELP_DEFAULTS
    assert (help_defaults["loss"], help_defaults["protocol"]) == (DETECT_DEFAULTS["loss"], "cv")


class _Stop(Exception):
    """Raised where a run would start: its config is what the test compares."""


@pytest.mark.parametrize(
    ("source", "argv"),
    [
        ({"data": "x.npz"}, ["--data", "x.npz"]),
        ({"features": "f.npy", "labels": "l.npy"}, ["--features", "f.npy", "--labels", "l.npy"]),
        ({"pred_probs": "p.npy", "labels": "l.npy"},
         ["--pred-probs", "p.npy", "--labels", "l.npy"]),
    ],
)  # fmt: skip
def test_the_cli_and_the_library_resolve_detect_to_one_config(tmp_path, monkeypatch, source,
                                                              argv):  # fmt: skip
    """``robustloss detect`` given nothing but data and ``detect_own_data`` (or
    ``detect_features`` / ``detect_pred_probs``) given nothing but data train with the
    identical config: one table of defaults (robustloss.run.defaults). Nothing trains: the
    run stops where its phases would start."""
    seen: list[RunConfig] = []

    def stop(cfg, out_dir, **kwargs):
        seen.append(cfg)
        raise _Stop

    monkeypatch.setattr(pipeline, "_execute", stop)
    with pytest.raises(_Stop):
        main(["detect", *argv, "--out", str(tmp_path / "cli")])
    with pytest.raises(_Stop):
        if "data" in source:
            pipeline.detect_own_data(source["data"])
        elif "features" in source:
            pipeline.detect_features(source["features"], source["labels"])
        else:
            pipeline.detect_pred_probs(source["pred_probs"], source["labels"])
    from_cli, from_library = seen
    assert from_cli == from_library
    assert config_hash(from_cli) == config_hash(from_library)
    if "data" in source:
        assert (from_cli.loss, from_cli.protocol) == ("auto", "cv")  # not ce in-sample
