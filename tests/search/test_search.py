"""The search from the given labels to the choice (robustloss.search.search,
``select_settings``): deterministic, every candidate recorded, and label-free: what it can
see."""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import numpy as np
import pytest

import robustloss.search
from robustloss.run import pipeline
from robustloss.run.pipeline import run_experiment
from robustloss.search.criteria import stop_epoch
from robustloss.search.search import select_settings
from search_fakes import noisy_toy, tiny_run, tiny_train_config
from synthetic import synthetic_images

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
    assert chosen.stop_epoch == stop_epoch(chosen.curve, first=first, n_held=n_held)
    assert chosen.stop_epoch >= chosen.best_epoch
    assert a.settings()["epochs"] == chosen.stop_epoch
    assert chosen.holdout_acc == chosen.curve[chosen.stop_epoch - 1]
    assert "highest holdout-acc" in a.why and "within one standard error" in a.why


def test_every_candidate_failing_is_an_error_listing_why():
    images, labels, _ = noisy_toy()

    def trainer(cfg, *args, **kwargs):
        raise RuntimeError("simulated")

    with pytest.raises(ValueError, match="every one failed: ce: failed"):
        select_settings(
            images, labels, train_config=tiny_train_config(epochs=2), quiet=True, trainer=trainer
        )



# ----- what it can see ---------------------------------------------------------------------


def test_the_search_takes_no_truth():
    """Its only arrays are the images and the labels trained on; no module of the search
    imports anything that holds a corruption (noise) or a run's records."""
    params = inspect.signature(select_settings).parameters
    assert list(params)[:2] == ["images", "labels"]
    assert not {"true_labels", "corrupted", "truth", "test", "mask"} & set(params)
    modules = sorted(Path(robustloss.search.__file__).parent.glob("*.py"))
    assert {"criteria", "candidates", "plan", "canaries", "results", "halving", "search"} <= {
        path.stem for path in modules
    }  # every module of the search is checked, select_settings' own included
    for path in modules:
        tree = ast.parse(path.read_text())
        imported = {
            node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
        } | {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
             for alias in node.names}  # fmt: skip
        assert not any(
            m and (m.startswith("robustloss.noise") or "records" in m) for m in imported
        ), path.name


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
