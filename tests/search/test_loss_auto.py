"""``--loss auto`` in a run (robustloss.run, robustloss.cli, robustloss.sweeps): the checks of
RunConfig and its hash, the run folder, the dry-run lines, the CLI and sweep specs."""

from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest

from robustloss.run.config import RunConfig, config_hash
from robustloss.run.pipeline import plan_lines, run_experiment
from robustloss.search import search
from robustloss.search.candidates import candidate_grid
from robustloss.search.criteria import default_criterion
from robustloss.search.plan import TooSmallError
from search_fakes import tiny_run
from synthetic import synthetic_images

# ----- RunConfig, the run folder and the CLI -----------------------------------------------


def test_an_in_sample_run_chooses_by_structured_canaries_unless_told(tmp_path):
    images, labels = synthetic_images(300, 0)
    npz = tmp_path / "toy.npz"
    np.savez(npz, images=images, labels=labels)
    cfg = RunConfig.from_dict(tiny_run(data=str(npz), dataset=None, protocol="in-sample"))
    assert cfg.auto_criterion is None
    assert "by canary-f1-structured" in " ".join(plan_lines(cfg, corrupt=True))
    told = dataclasses.replace(cfg, auto_criterion="holdout-acc")
    assert "by holdout-acc" in " ".join(plan_lines(told, corrupt=True))
    # The hash names the criterion the search runs by, default or told: leaving it to the
    # default and naming the default are one experiment; another criterion is another.
    named = dataclasses.replace(cfg, auto_criterion="canary-f1-structured")
    assert cfg.resolved()["auto_criterion"] == "canary-f1-structured"
    assert config_hash(cfg) == config_hash(named) != config_hash(told)
    cv = dataclasses.replace(cfg, protocol="cv")
    assert config_hash(cv) == config_hash(dataclasses.replace(cv, auto_criterion="holdout-acc"))


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"loss": "auto", "gamma": 0.4}, "auto chooses the loss and its parameters"),
        ({"loss": "auto", "delay": 2}, "auto chooses the delay"),
        ({"loss": "ce", "gamma": "auto"}, "does not belong to loss 'ce'"),
        ({"loss": "sce", "alpha": "auto"}, "'auto' for one parameter"),
        ({"loss": "pz", "cutoff": "auto", "delay": 2}, "chooses pz's delay"),
        ({"loss": "auto", "early_stop": True}, "held-out split of its own"),
        ({"loss": "auto", "auto_criterion": "oracle"}, "auto_criterion"),
        ({"loss": "auto", "dataset": None, "features": "f.npy", "labels": "l.npy"},
         "trains candidate CNNs on images"),
    ],
)  # fmt: skip
def test_auto_settings_that_make_no_sense_are_refused(settings, match):
    with pytest.raises(ValueError, match=match):
        RunConfig.from_dict(settings)


def test_auto_configs_and_their_hash():
    assert RunConfig(loss="auto").chooses_settings
    assert RunConfig(loss="blurry", gamma="auto").auto_param() == "gamma"
    assert not RunConfig(loss="blurry", gamma=0.4).chooses_settings
    # The new field at its default leaves older configs' hashes (sweep databases) as they
    # were: these are the hashes before auto_criterion existed.
    assert config_hash(RunConfig()) == (
        "e1be9420f14133ff6ce31bbfbfc840310a0dff83746184e84b263960f1e17f0f"
    )
    assert config_hash(RunConfig(loss="blurry", gamma=0.4, protocol="cv", seed=2)) == (
        "d5fd7d74985d6846162f253d166bdf41947c5a5fc824e341374cec855abb5f2d"
    )
    assert config_hash(RunConfig(loss="auto")) != config_hash(
        RunConfig(loss="auto", auto_criterion="cl-cleaned")
    )
    chosen = RunConfig(loss="blurry", gamma="auto", detach_weight=False).with_chosen(
        {"loss": "blurry", "gamma": 0.3, "detach_weight": False, "delay": 0, "epochs": 7}
    )
    assert (chosen.gamma, chosen.detach_weight, chosen.epochs) == (0.3, False, 7)


def test_a_run_with_loss_auto_writes_its_choice(tmp_path):
    images, labels = synthetic_images(300, 0)
    npz = tmp_path / "toy.npz"
    np.savez(npz, images=images, labels=labels)
    out = tmp_path / "run"
    summary = run_experiment(tiny_run(data=str(npz), dataset=None), out, quiet=True)
    assert summary.config["loss"] == "auto" and summary.auto is not None
    settings = summary.auto["settings"]
    meta = json.loads((out / "config.json").read_text())
    assert meta["config_used"]["loss"] == settings["loss"]
    assert meta["config_used"]["epochs"] == settings["epochs"]
    # The criterion left to the default is recorded by name, as the search used it.
    default = default_criterion(meta["config"]["protocol"])
    assert meta["config"]["auto_criterion"] == summary.auto["criterion"] == default
    assert meta["train_config"]["epochs"] == settings["epochs"]
    assert meta["auto"]["plan"]["ratio"] <= 2.5 + 1e-9 or "over budget" in " ".join(
        plan_lines(RunConfig.from_dict(tiny_run(data=str(npz), dataset=None)), corrupt=True)
    )
    with open(out / "auto.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["candidate"] for r in rows] == [c.name for c in candidate_grid(4)]
    assert sum(r["status"] == "chosen" for r in rows) == 1
    assert json.loads((out / "summary.json").read_text())["auto"]["why"] == summary.auto["why"]


def test_dry_run_lines_name_the_plan_and_train_nothing(tmp_path, monkeypatch):
    images, labels = synthetic_images(300, 0)
    npz = tmp_path / "toy.npz"
    np.savez(npz, images=images, labels=labels)
    monkeypatch.setattr(search, "train", None)  # nothing may train
    lines = plan_lines(RunConfig.from_dict(tiny_run(data=str(npz), dataset=None)), corrupt=True)
    text = "\n".join(lines)
    assert "300 examples" in text and "10 candidates" not in text  # E=4: delays d=1 only
    assert "candidates: ce, blurry gamma=0.2" in text
    assert "x one fixed run (budget 2.5x)" in text


def test_dry_run_on_data_too_small_to_search_says_what_the_run_will_do(tmp_path):
    images, labels = synthetic_images(90, 0)
    npz = tmp_path / "small.npz"
    np.savez(npz, images=images, labels=labels)
    cfg = RunConfig.from_dict(tiny_run(data=str(npz), dataset=None))
    lines = plan_lines(cfg, corrupt=True)
    assert lines[-1].startswith("auto: no search, the default setting blurry gamma=0.4")
    with pytest.raises(TooSmallError):  # one loss's parameter: no fallback
        plan_lines(cfg.with_chosen({"loss": "blurry", "gamma": "auto"}), corrupt=True)


def test_cli_dry_run_and_gamma_auto(tmp_path, capsys):
    from robustloss.cli import main

    images, labels = synthetic_images(300, 0)
    npz = tmp_path / "toy.npz"
    np.savez(npz, images=images, labels=labels)
    tiny = ["--model", "tiny", "--epochs", "4", "--batch-size", "32", "--lr", "0.01",
            "--threads", "1", "--device", "cpu"]  # fmt: skip
    out = tmp_path / "never"
    assert main(["detect", "--data", str(npz), *tiny, "--dry-run", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "train: protocol cv, 5 model(s), the chosen settings" in text
    assert "auto: 8 candidates" in text and not out.exists()
    run_out = tmp_path / "gamma"
    argv = ["run", "--data", str(npz), *tiny, "--loss", "blurry", "--gamma", "auto",
            "--out", str(run_out), "--json", "--quiet"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["config"]["gamma"] == "auto"
    assert summary["auto"]["settings"]["loss"] == "blurry"
    assert summary["auto"]["settings"]["gamma"] in (0.2, 0.3, 0.4, 0.6)
    assert summary["loss_params_effective"]["gamma"] == summary["auto"]["settings"]["gamma"]


def test_detect_without_loss_flags_chooses_and_writes_the_table(tmp_path, capsys):
    from robustloss.cli import main

    images, labels = synthetic_images(300, 0)
    npz = tmp_path / "mine.npz"
    np.savez(npz, images=images, labels=labels)
    out = tmp_path / "det"
    argv = ["detect", "--data", str(npz), "--model", "tiny", "--epochs", "2", "--batch-size",
            "32", "--lr", "0.01", "--threads", "1", "--device", "cpu", "--folds", "2",
            "--out", str(out), "--quiet", "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["config"]["loss"] == "auto" and summary["auto"]["chosen"]
    assert (out / "auto.csv").is_file() and (out / "auto.png").is_file()
    assert "Settings chosen without ground truth" in (out / "report.html").read_text()


def test_sweep_specs_take_auto():
    from robustloss.sweeps.spec import load_spec, parse_spec

    spec = parse_spec(
        'dataset = "mnist"\nsubset = 600\n[sweep]\nname = "t"\nseeds = [0, 1]\n'
        '[[group]]\nname = "auto"\nloss = "auto"\n'
        '[[group]]\nname = "bl"\nloss = "blurry"\ngamma = "auto"\n'
    )
    trials = spec.trials()
    assert {(t.loss, t.gamma) for t in trials} == {("auto", None), ("blurry", "auto")}
    assert all(t.chooses_settings for t in trials) and len(trials) == 4
    bundled = load_spec("auto").trials()
    assert sum(t.loss == "auto" for t in bundled) == 2 * 5 * 3 * 5  # every criterion
    assert len(bundled) == 2 * 5 * 3 * 15
