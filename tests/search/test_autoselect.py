"""Settings chosen without ground truth (robustloss.search.autoselect, ``--loss auto``):
the grid, the plan and its budget, the search on tiny synthetic data, what it can see, and
what it does with candidates that fail."""

from __future__ import annotations

import ast
import csv
import dataclasses
import inspect
import json
import math
from pathlib import Path

import numpy as np
import pytest

from robustloss.run import pipeline
from robustloss.run.config import RunConfig, config_hash
from robustloss.run.pipeline import plan_lines, run_experiment
from robustloss.search import autoselect
from robustloss.search.autoselect import (
    DEFAULT_CANDIDATE,
    Candidate,
    candidate_grid,
    fixed_run_cost,
    plan_search,
    select_settings,
)
from robustloss.train import TrainConfig, predict_proba, train
from synthetic import synthetic_images


def noisy_toy(n: int = 300, seed: int = 0, rate: float = 0.2):
    images, labels = synthetic_images(n, seed)
    rng = np.random.default_rng(seed)
    flip = rng.random(n) < rate
    noisy = labels.copy()
    noisy[flip] = (labels[flip] + 1) % 3
    return images, noisy, flip


def tiny_train_config(**kw) -> TrainConfig:
    base = dict(model="tiny", epochs=4, batch_size=32, lr=1e-2, threads=1, device="cpu")
    return TrainConfig(**{**base, **kw})


def tiny_run(**kw) -> dict:
    base = {"model": "tiny", "epochs": 4, "batch_size": 32, "lr": 1e-2, "threads": 1,
            "device": "cpu", "noise": 0.2, "loss": "auto"}  # fmt: skip
    return {**base, **kw}


# ----- the grid and the plan ---------------------------------------------------------------


def test_full_grid_at_ten_epochs():
    names = [c.name for c in candidate_grid(10)]
    assert names == [
        "ce",
        "blurry gamma=0.2",
        "blurry gamma=0.3",
        "blurry gamma=0.4",
        "blurry gamma=0.6",
        "gce q=0.7",
        "pz cutoff=0.05 d=2",
        "pz cutoff=0.05 d=4",
        "pz cutoff=0.1 d=2",
        "pz cutoff=0.1 d=4",
    ]
    assert DEFAULT_CANDIDATE in candidate_grid(10)


def test_one_parameter_grids_keep_the_fixed_ones():
    blurry = candidate_grid(10, loss="blurry", fixed={"detach_weight": False})
    assert [c.loss_params() for c in blurry] == [
        {"detach_weight": False, "gamma": g} for g in (0.2, 0.3, 0.4, 0.6)
    ]
    pz = candidate_grid(10, loss="pz")
    assert {(c.loss_params()["cutoff"], c.delay) for c in pz} == {
        (c, d) for c in (0.05, 0.1, 0.2) for d in (2, 4)
    }
    with pytest.raises(ValueError, match="parameter can be chosen"):
        candidate_grid(10, loss="mae")


def test_delays_leave_a_rung_one_epoch_with_the_loss_in_use():
    for epochs in range(1, 21):
        r = autoselect.rung_epochs(epochs)
        for c in candidate_grid(epochs):
            assert c.delay < r or c.delay == 0


def test_a_five_fold_run_fits_the_budget_whole():
    labels = np.arange(60_000) % 10
    plan = plan_search(labels, epochs=10, protocol="cv", folds=5)
    assert plan.n_search == plan.n_train == 54_000 and plan.n_held == 6_000
    assert plan.ratio <= 2.5
    # Rung 1: ce 5 + 4 blurry x 5 + gce 5 + pz: 2 x (5-2) + 2 x (5-4); rung 2: 4 x 5.
    assert plan.keep == 4 and plan.train_epochs == 5 + 20 + 5 + 6 + 2 + 20


def test_an_in_sample_run_searches_on_a_part_sized_to_the_budget():
    labels = np.arange(60_000) % 10
    plan = plan_search(labels, epochs=10, protocol="in-sample")
    assert plan.n_search < plan.n_train
    assert plan.ratio == pytest.approx(2.5, abs=0.01)
    assert any("stratified" in line for line in plan.lines())


def test_fixed_run_cost_per_protocol():
    assert fixed_run_cost("in-sample", 1000, 10, 5) == 10_000
    assert fixed_run_cost("embed-cv", 1000, 10, 5) == 10_000
    assert fixed_run_cost("cv", 1000, 10, 5) == 40_000


def test_a_data_set_too_small_to_hold_out_is_a_clear_error():
    with pytest.raises(ValueError, match=r"holds out \d+ of .*give the loss"):
        plan_search(np.arange(60) % 3, epochs=4, protocol="cv")


def test_a_class_with_one_example_stays_in_training():
    labels = np.concatenate([np.arange(390) % 3, [3]])  # class 3: one example
    plan = plan_search(labels, epochs=4, protocol="cv", num_classes=4)
    assert plan.n_held == 39 and plan.n_train == 352  # 13 of each class of 130; not class 3
    train_idx, held_idx = autoselect._split(labels, 0.1, 0)
    assert 390 in train_idx and 390 not in held_idx


# ----- the search --------------------------------------------------------------------------


def test_the_search_chooses_deterministically_and_records_every_candidate():
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    a = select_settings(images, labels, train_config=cfg, quiet=True)
    b = select_settings(images, labels, train_config=cfg, quiet=True)
    assert a.table() == b.table() and a.settings() == b.settings()
    statuses = [r["status"] for r in a.table()]
    assert statuses.count("chosen") == 1
    assert statuses.count("chosen") + statuses.count("kept") == a.plan.keep
    assert a.sample_epochs == pytest.approx(a.plan.search_cost)
    chosen = next(r for r in a.results if r.status == "chosen")
    assert len(chosen.curve) == 4  # trained on to E
    first = chosen.candidate.delay
    assert chosen.curve[chosen.best_epoch - 1] == max(chosen.curve[first:])
    n_held = a.plan.n_held
    assert chosen.stop_epoch == autoselect.stop_epoch(chosen.curve, first=first, n_held=n_held)
    assert chosen.stop_epoch >= chosen.best_epoch
    assert a.settings()["epochs"] == chosen.stop_epoch
    assert chosen.holdout_acc == chosen.curve[chosen.stop_epoch - 1]
    assert "highest holdout-acc" in a.why and "within one standard error" in a.why


def test_rung_two_resumes_exactly_where_rung_one_stopped():
    """A kept candidate's curve is the one training it alone for E epochs gives."""
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    sel = select_settings(images, labels, train_config=cfg, quiet=True)
    kept = next(r for r in sel.results if r.status in ("kept", "chosen"))
    train_idx, held_idx = autoselect._split(labels, 0.1, cfg.seed)
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
    train_idx, held_idx = autoselect._split(labels, 0.1, cfg.seed)
    probe = autoselect.probe_positions(train_idx.size, held_idx.size, cfg.seed)
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


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [("in-sample", "canary-f1-structured"), ("paper-cv", "canary-f1-structured"),
     ("embed-cv", "canary-f1-structured"),
     ("cv", "holdout-acc")],
)  # fmt: skip
def test_the_default_criterion_follows_where_the_probabilities_come_from(protocol, expected):
    assert autoselect.default_criterion(protocol) == expected
    labels = np.arange(3000) % 10
    assert plan_search(labels, epochs=10, protocol=protocol).criterion == expected
    assert plan_search(labels, epochs=10, protocol=protocol, criterion="cl-cleaned").criterion == (
        "cl-cleaned"
    )
    with pytest.raises(ValueError, match="or None for the protocol's default"):
        plan_search(labels, epochs=10, protocol=protocol, criterion="oracle")


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


def test_the_search_takes_no_truth():
    """Its only arrays are the images and the labels trained on; the module imports
    nothing that holds a corruption (noise) or a run's records."""
    params = inspect.signature(select_settings).parameters
    assert list(params)[:2] == ["images", "labels"]
    assert not {"true_labels", "corrupted", "truth", "test", "mask"} & set(params)
    tree = ast.parse(Path(autoselect.__file__).read_text())
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
    } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
         for alias in node.names}  # fmt: skip
    assert not any(m and (m.startswith("robustloss.noise") or "records" in m) for m in imported)


def test_the_pipeline_gives_the_search_the_noisy_labels_and_nothing_else(tmp_path, monkeypatch):
    images, labels = synthetic_images(300, 0)
    npz = tmp_path / "toy.npz"
    np.savez(npz, images=images, labels=labels)
    seen = {}
    real = pipeline.select_settings

    def spy(*args, **kwargs):
        seen["args"], seen["kwargs"] = args, kwargs
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "select_settings", spy)
    out = tmp_path / "run"
    run_experiment(tiny_run(data=str(npz), dataset=None), out, quiet=True)
    corruption = json.loads((out / "corruption.json").read_text())
    given_images, given_labels = seen["args"]
    expected = labels.copy()
    expected[corruption["indices"]] = corruption["noisy_labels"]
    np.testing.assert_array_equal(given_labels, expected)  # the noisy labels, not the true
    np.testing.assert_array_equal(given_images, images)
    arrays = [v for v in seen["kwargs"].values() if isinstance(v, np.ndarray)]
    assert arrays == []  # nothing else array-like: no mask, no true labels, no test split


def test_same_given_labels_same_choice_whatever_the_truth():
    images, labels, flip = noisy_toy()
    cfg = tiny_train_config()
    a = select_settings(images, labels, train_config=cfg, quiet=True)
    # Another truth with the same given labels cannot change anything: it is not an input.
    b = select_settings(images.copy(), labels.copy(), train_config=cfg, quiet=True)
    assert a.table() == b.table()
    assert flip.any()


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


def test_every_candidate_failing_is_an_error_listing_why():
    images, labels, _ = noisy_toy()

    def trainer(cfg, *args, **kwargs):
        raise RuntimeError("simulated")

    with pytest.raises(ValueError, match="every one failed: ce: failed"):
        select_settings(
            images, labels, train_config=tiny_train_config(epochs=2), quiet=True, trainer=trainer
        )


def test_cl_cleaned_is_computed_for_every_scored_candidate():
    images, labels, _ = noisy_toy()
    sel = select_settings(
        images, labels, train_config=tiny_train_config(), criterion="cl-cleaned", quiet=True
    )
    assert all(r.cl_cleaned is not None for r in sel.results if r.ok)
    assert sel.criterion == "cl-cleaned" and "highest cl-cleaned" in sel.why


def test_ties_go_to_the_default_setting():
    results = [
        autoselect.CandidateResult(c, "kept", 2, (0.8, 0.8), 0.8, 1, None)
        for c in candidate_grid(4)
    ]
    order = autoselect._ranked_indices(results, range(len(results)), "holdout-acc")
    assert results[order[0]].candidate == DEFAULT_CANDIDATE


# ----- RunConfig, the run folder and the CLI -----------------------------------------------


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
    default = autoselect.default_criterion(meta["config"]["protocol"])
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
    monkeypatch.setattr(autoselect, "train", None)  # nothing may train
    lines = plan_lines(RunConfig.from_dict(tiny_run(data=str(npz), dataset=None)), corrupt=True)
    text = "\n".join(lines)
    assert "300 examples" in text and "10 candidates" not in text  # E=4: delays d=1 only
    assert "candidates: ce, blurry gamma=0.2" in text
    assert "x one fixed run (budget 2.5x)" in text


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


def test_holdout_gap_penalises_fitting_the_training_labels_past_the_held_out_ones():
    assert autoselect._gap_scores([0.8, 0.8, 0.8], [0.7, 0.9, 1.0]) == pytest.approx(
        (0.8, 0.7, 0.6)
    )
    images, labels, _ = noisy_toy()
    sel = select_settings(
        images, labels, train_config=tiny_train_config(), criterion="holdout-gap", quiet=True
    )
    chosen = next(r for r in sel.results if r.status == "chosen")
    assert sel.settings()["epochs"] == chosen.stop_epoch
    assert len(chosen.train_curve) == len(chosen.curve) == 4
    gaps = autoselect._gap_scores(chosen.curve, chosen.train_curve)
    assert chosen.holdout_gap == gaps[chosen.stop_epoch - 1]  # scored where it would stop
    row = next(r for r in sel.table() if r["status"] == "chosen")
    assert row["train_acc_by_epoch"].count(";") == 3 and row["stop_epoch"] == chosen.stop_epoch


def test_dry_run_on_data_too_small_to_search_says_what_the_run_will_do(tmp_path):
    images, labels = synthetic_images(90, 0)
    npz = tmp_path / "small.npz"
    np.savez(npz, images=images, labels=labels)
    cfg = RunConfig.from_dict(tiny_run(data=str(npz), dataset=None))
    lines = plan_lines(cfg, corrupt=True)
    assert lines[-1].startswith("auto: no search, the default setting blurry gamma=0.4")
    with pytest.raises(autoselect.TooSmallError):  # one loss's parameter: no fallback
        plan_lines(cfg.with_chosen({"loss": "blurry", "gamma": "auto"}), corrupt=True)


# ----- the stop epoch ----------------------------------------------------------------------


def test_standard_error_is_the_binomial_one():
    assert autoselect.standard_error(0.8, 100) == pytest.approx(0.04)
    assert autoselect.standard_error(1.0, 50) == 0.0
    assert autoselect.standard_error(0.5, 0) == 0.0


@pytest.mark.parametrize(
    ("curve", "first", "n_held", "expected"),
    [
        ((0.70, 0.80, 0.79, 0.78), 0, 100, 4),  # SE 0.04: the last three are the peak's
        ((0.70, 0.80, 0.79, 0.70), 0, 100, 3),  # the last fell more than one SE
        ((0.70, 0.80, 0.79, 0.78), 0, 100_000, 2),  # a large split tells them apart
        ((0.90, 0.50, 0.60, 0.62), 1, 100, 4),  # the warm-up's epoch does not count
        ((0.5,), 0, 10, 1),
    ],
)
def test_the_stop_epoch_is_the_latest_within_one_standard_error_of_the_peak(
    curve, first, n_held, expected
):
    assert autoselect.stop_epoch(curve, first=first, n_held=n_held) == expected


def test_the_stop_epoch_refuses_an_empty_curve():
    with pytest.raises(ValueError, match="non-empty curve"):
        autoselect.stop_epoch((), n_held=10)
    with pytest.raises(ValueError, match="first=3"):
        autoselect.stop_epoch((0.5, 0.6), first=3, n_held=10)


def _finalist(name: str, curve, train_curve, n_held: int) -> autoselect.CandidateResult:
    c = next(c for c in candidate_grid(4) if c.name == name)
    stop = autoselect.stop_epoch(curve, n_held=n_held)
    gaps = autoselect._gap_scores(curve, train_curve)
    return autoselect.CandidateResult(
        c, "kept", len(curve), tuple(curve), curve[stop - 1], int(np.argmax(curve)) + 1, None,
        train_curve=tuple(train_curve), holdout_gap=gaps[stop - 1], stop_epoch=stop,
    )  # fmt: skip


def test_a_fast_learner_is_scored_where_its_final_run_would_stop_not_at_its_early_peak():
    """The failure the stop epoch fixes: cross entropy peaks early on the gap (before it
    memorises) and its held-out accuracy stays within one SE to the end, so its final run
    would train on and memorise: scored there, it loses to a robust loss that fits slower."""
    n_held = 300  # SE about 0.023
    ce = _finalist("ce", (0.76, 0.79, 0.80, 0.80), (0.76, 0.80, 0.88, 0.95), n_held)
    robust = _finalist(
        "blurry gamma=0.6", (0.70, 0.75, 0.78, 0.79), (0.70, 0.76, 0.80, 0.82), n_held
    )
    early_peak = max(autoselect._gap_scores(ce.curve, ce.train_curve))
    assert early_peak > max(autoselect._gap_scores(robust.curve, robust.train_curve))
    assert ce.stop_epoch == 4 and ce.holdout_gap == pytest.approx(0.65)
    plan = plan_search(np.arange(3000) % 3, epochs=4, protocol="in-sample", criterion="holdout-gap")
    sel = autoselect._decide(plan, [ce, robust], 0.0, 0.0)
    assert sel.chosen.name == "blurry gamma=0.6" and sel.settings()["epochs"] == 4
    assert "at its stop epoch" in sel.why and "runner-up ce" in sel.why


# ----- criterion canary-f1: labels flipped on purpose ------------------------------------------


@pytest.mark.parametrize(("n", "expected"), [(100, 10), (551, 30), (11_035, 552), (9, 0)])
def test_canary_count_is_five_percent_at_least_thirty_at_most_a_tenth(n, expected):
    assert autoselect.canary_count(n) == expected


def test_canaries_are_flipped_to_another_class_reproducibly():
    labels = np.arange(600) % 3
    pos, flipped = autoselect.plant_canaries(labels, num_classes=3, seed=5)
    again, flipped_again = autoselect.plant_canaries(labels, num_classes=3, seed=5)
    np.testing.assert_array_equal(pos, again)
    np.testing.assert_array_equal(flipped, flipped_again)
    assert pos.size == autoselect.canary_count(600) and np.all(np.diff(pos) > 0)
    assert np.all(flipped[pos] != labels[pos])  # every canary is a wrong label
    rest = np.setdiff1d(np.arange(600), pos)
    np.testing.assert_array_equal(flipped[rest], labels[rest])  # nothing else changes
    assert not np.array_equal(pos, autoselect.plant_canaries(labels, num_classes=3, seed=6)[0])
    assert labels[0] == 0  # the input is not modified
    with pytest.raises(ValueError, match="at least 2 classes"):
        autoselect.plant_canaries(labels, num_classes=1, seed=0)


def test_canary_f1_is_the_true_f1_when_the_most_precise_candidate_flags_only_wrong_labels():
    """w = 0.2 of the examples are wrong. Candidate A: recall 0.6, precision 1; B: recall
    0.9, precision 0.9; C: recall 0.95, precision 0.6. flagged share = recall w / precision."""
    w = 0.2
    recall = [0.6, 0.9, 0.95]
    precision = [1.0, 0.9, 0.6]
    flagged = [r * w / p for r, p in zip(recall, precision, strict=True)]
    truth = [2 * p * r / (p + r) for r, p in zip(recall, precision, strict=True)]
    estimate = autoselect.canary_f1(recall, flagged)
    np.testing.assert_allclose(estimate, truth)
    assert int(np.argmax(estimate)) == 1


def test_canary_f1_estimates_the_rate_from_reliable_recalls_only():
    # A finds 10% of the canaries and flags almost nothing: its ratio (0.001 / 0.1 = 0.01)
    # is a small number's noise and must not set the rate; B and C (recall >= 0.5) do.
    est = autoselect.canary_f1([0.1, 0.8, 0.9], [0.001, 0.2, 0.3])
    w = 0.2 / 0.8
    assert est[1] == pytest.approx(2 * 0.8 * w / (0.2 + w))
    # none reliable: the highest recall's ratio
    est = autoselect.canary_f1([0.1, 0.2], [0.05, 0.05])
    assert est[1] == pytest.approx(2 * 0.2 * 0.25 / (0.05 + 0.25))
    assert autoselect.canary_f1([0.0, 0.0], [0.1, 0.2]) == (0.0, 0.0)  # no canary found
    assert autoselect.canary_f1([0.5], [0.0]) == (0.0,)  # nothing else flagged
    assert autoselect.canary_f1([], []) == ()
    with pytest.raises(ValueError, match="one shape"):
        autoselect.canary_f1([0.5], [0.1, 0.2])
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        autoselect.canary_f1([1.5], [0.1])


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
    assert plan.canaries == autoselect.canary_count(plan.n_search) > 0
    assert any("flipped on purpose" in line for line in plan.lines())
    assert a.sample_epochs == pytest.approx(plan.search_cost)  # the passes are budgeted
    # What the candidates trained on: the search set's given labels with the canaries
    # flipped; the held-out labels as given.
    train_idx, held_idx = autoselect._split(labels, 0.1, cfg.seed)
    search_idx = autoselect._subsample(train_idx, labels, plan.n_search, cfg.seed)
    pos, expected = autoselect.plant_canaries(labels[search_idx], num_classes=3, seed=cfg.seed)
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
    train_idx, _ = autoselect._split(labels, 0.1, cfg.seed)
    search_idx = autoselect._subsample(train_idx, labels, sel.plan.n_search, cfg.seed)
    for trained_on, _, _ in seen:  # exactly the given labels, none flipped
        np.testing.assert_array_equal(trained_on, labels[search_idx])


# ----- criterion canary-f1-structured: canaries where the data's wrong labels go -----------


def test_canary_transitions_follow_the_joints_wrong_labels_with_an_add_one_prior():
    # Q[given, true]: class 0's examples are labelled 1 (90 of them), class 1's labelled 2.
    joint = np.array([[500, 0, 0], [90, 500, 0], [0, 60, 500]], dtype=float)
    t = autoselect.canary_transitions(joint)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    np.testing.assert_array_equal(np.diag(t), 0.0)
    assert t[0, 1] == pytest.approx(91 / 92) and t[1, 2] == pytest.approx(61 / 62)
    assert t[2, 0] == t[2, 1] == pytest.approx(0.5)  # nothing learnt of class 2: uniform
    # Few counts weigh little against the prior; many dominate it.
    few = autoselect.canary_transitions(np.array([[9, 0, 0], [1, 9, 0], [0, 0, 9]], float))
    assert few[0, 1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="K >= 2"):
        autoselect.canary_transitions(np.ones((1, 1)))
    with pytest.raises(ValueError, match="non-negative"):
        autoselect.canary_transitions(-np.ones((3, 3)))


def test_structured_canaries_go_where_the_transitions_send_them():
    labels = np.repeat(np.arange(4), 150)
    pair = np.roll(np.eye(4), 1, axis=1)  # class g -> g + 1
    pos, flipped = autoselect.plant_canaries(labels, num_classes=4, seed=3, transitions=pair)
    uniform_pos, _ = autoselect.plant_canaries(labels, num_classes=4, seed=3)
    np.testing.assert_array_equal(pos, uniform_pos)  # same positions, other classes
    np.testing.assert_array_equal(flipped[pos], (labels[pos] + 1) % 4)
    keep = np.ones(labels.size, bool)
    keep[pos] = False
    np.testing.assert_array_equal(flipped[keep], labels[keep])
    half = np.full((4, 4), 0.0)
    half[np.arange(4), (np.arange(4) + 1) % 4] = 0.5
    half[np.arange(4), (np.arange(4) + 2) % 4] = 0.5
    _, a = autoselect.plant_canaries(labels, num_classes=4, seed=3, transitions=half)
    _, b = autoselect.plant_canaries(labels, num_classes=4, seed=3, transitions=half)
    np.testing.assert_array_equal(a, b)  # reproducible
    shift = (a[pos] - labels[pos]) % 4
    assert set(shift) == {1, 2}
    for bad, match in [(np.eye(4), "zero diagonal"), (np.ones((3, 3)) / 3, r"\(4, 4\)")]:
        with pytest.raises(ValueError, match=match):
            autoselect.plant_canaries(labels, num_classes=4, seed=3, transitions=bad)


def test_structured_canaries_come_from_a_probe_on_the_given_labels_and_are_budgeted():
    images, labels, _ = noisy_toy()
    cfg = tiny_train_config()
    seen: list = []
    kw = dict(train_config=cfg, criterion="canary-f1-structured", quiet=True)
    a = select_settings(images, labels, **kw, trainer=_spy_trainer(seen))
    b = select_settings(images, labels, **kw)
    assert a.table() == b.table() and a.canary_transitions == b.canary_transitions
    plan = a.plan
    assert plan.canary_probe_epochs == autoselect.CANARY_PROBE_EPOCHS
    assert plan.canaries == autoselect.canary_count(plan.n_search)
    assert any("cross-entropy probe" in line for line in plan.lines())
    assert a.sample_epochs == pytest.approx(plan.search_cost)  # the probe is budgeted
    uniform = plan_search(labels, epochs=cfg.epochs, protocol="cv",
                          criterion="canary-f1")  # fmt: skip
    assert plan.search_cost > uniform.search_cost  # the probe costs more
    assert plan.n_search <= uniform.n_search  # ... paid for with no larger a search set
    train_idx, _ = autoselect._split(labels, 0.1, cfg.seed)
    search_idx = autoselect._subsample(train_idx, labels, plan.n_search, cfg.seed)
    # First the probe, on the given labels (no canaries, no held-out split) ...
    probe_labels, probe_held, epochs = seen[0]
    assert probe_held is None and epochs == autoselect.CANARY_PROBE_EPOCHS
    np.testing.assert_array_equal(probe_labels, labels[search_idx])
    # ... then every candidate on the canaries the recorded transitions put there.
    t = np.array(a.canary_transitions)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    _, expected = autoselect.plant_canaries(
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
    train_idx, _ = autoselect._split(labels, 0.1, cfg.seed)
    search_idx = autoselect._subsample(train_idx, labels, sel.plan.n_search, cfg.seed)
    _, expected = autoselect.plant_canaries(labels[search_idx], num_classes=3, seed=cfg.seed)
    for trained_on, _, _ in seen[1:]:
        np.testing.assert_array_equal(trained_on, expected)
    assert sel.chosen is not None
