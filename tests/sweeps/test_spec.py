"""Sweep specs: parsing, expansion into trials, errors that name the file and key."""

from __future__ import annotations

import pytest

from robustloss.run.config import RunConfig, config_hash
from robustloss.search.criteria import CRITERIA, default_criterion
from robustloss.sweeps.spec import (
    expand_spec,
    list_specs,
    load_spec,
    parse_spec,
    trial_hash,
)

GRID = """
dataset = "mnist"
noise = [0.1, 0.2]
epochs = 3

[sweep]
name = "grid"
seeds = [0, 1]
executor = "slurm"

[sweep.slurm]
account = "lab"
walltime = "01:00:00"
cores = 4
job_extra = ["--gres=gpu:1"]

[[group]]
name = "ce"
loss = "ce"

[[group]]
name = "blurry"
loss = "blurry"
gamma = [0.2, 0.3, 0.4]
delay = [0, 2]

[[group]]
name = "pz-mnist-0.2"
loss = "pz"
noise = 0.2
cutoff = 0.05
delay = 3
"""


def test_expansion_is_the_product_per_group():
    spec = parse_spec(GRID)
    trials = spec.trials()
    # ce: 2 noise x 2 seeds; blurry: 2 x 2 x 3 gammas x 2 delays; pz: 1 noise x 2 seeds.
    assert len(trials) == 4 + 24 + 2
    ce = [t for t in trials if t.loss == "ce"]
    assert {(t.noise, t.seed) for t in ce} == {(0.1, 0), (0.1, 1), (0.2, 0), (0.2, 1)}
    blurry = [t for t in trials if t.loss == "blurry"]
    assert {t.gamma for t in blurry} == {0.2, 0.3, 0.4}
    assert all(t.cutoff is None for t in blurry)
    pz = [t for t in trials if t.loss == "pz"]
    assert {t.noise for t in pz} == {0.2}  # the group's scalar replaces the top-level axis
    assert all(t.gamma is None and t.cutoff == 0.05 and t.delay == 3 for t in pz)
    assert all(t.epochs == 3 and t.dataset == "mnist" for t in trials)
    # Every trial is a resolved RunConfig dict.
    assert all(RunConfig.from_dict(t.to_dict()) == t for t in trials)


def test_settings_are_parsed_and_not_part_of_trials():
    spec = parse_spec(GRID, source="grid.toml")
    assert spec.name == "grid"
    assert spec.settings.executor == "slurm"
    assert spec.settings.slurm.account == "lab"
    assert spec.settings.slurm.cores == 4
    assert spec.settings.slurm.job_extra == ("--gres=gpu:1",)
    assert spec.settings.slurm.walltime == "01:00:00"
    assert spec.settings.slurm.memory == "8GB"  # default
    assert spec.settings.threads == 1 and spec.settings.shared_warmup is True


def test_without_groups_the_top_level_expands():
    spec = parse_spec('loss = "focal"\ngamma = [1.0, 2.0]\nseed = [0, 1, 2]\n', name="n")
    trials = expand_spec(spec)
    assert len(trials) == 6
    assert spec.name == "n"
    # Later keys vary fastest, in the order of the file.
    assert [(t.gamma, t.seed) for t in trials[:3]] == [(1.0, 0), (1.0, 1), (1.0, 2)]


def test_duplicate_trials_are_kept_once():
    text = """
noise = 0.2
[[group]]
name = "a"
loss = "ce"
[[group]]
name = "b"
loss = "ce"
noise = [0.2, 0.1]
"""
    trials = parse_spec(text).trials()
    assert len(trials) == 2
    assert len({trial_hash(t) for t in trials}) == 2


def test_trial_hash_is_config_hash():
    trial = parse_spec('loss = "blurry"\ngamma = 0.4\n').trials()[0]
    assert trial_hash(trial) == config_hash(RunConfig.from_dict(trial.to_dict()))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lossy = 'ce'\n", "unknown key 'lossy'"),
        ("epochs = '10'\n", "key 'epochs' expects int"),
        ("noise = 'high'\n", "key 'noise' expects float"),
        ("epochs = true\n", "key 'epochs' expects int"),
        ("noise = []\n", "key 'noise' is an empty list"),
        ("noise = [0.1, 0.1]\n", "lists a value twice"),
        ("noise = [[0.1], [0.2]]\n", "scalar or a list of scalars"),
        ("[sweep]\nseeds = []\n", "key 'seed' is an empty list"),
        ("seed = 1\n[sweep]\nseeds = [0]\n", "not both"),
        ("[sweep]\nnmae = 'x'\n", "[sweep]: unknown key 'nmae'"),
        ("[sweep]\nexecutor = 'pbs'\n", "key 'executor' must be one of"),
        ("[sweep]\nworkers = 0\n", "key 'workers' must be >= 1"),
        ("[sweep.slurm]\nwalltime = 4\n", "key 'walltime' expects str"),
        ("[sweep.slurm]\njob_extra = [1]\n", "must list strings"),
        ("[sweep.slurm]\ncores = 0\n", "key 'cores' must be >= 1"),
        ("[[group]]\nname = 'b'\nloss = 'blurry'\n", "[[group]] 'b': invalid trial"),
        ("[[group]]\nname = 'c'\nloss = 'ce'\ngamma = [0.1]\n", "does not belong"),
        ("[[group]]\nname = 'x'\n[[group]]\nname = 'x'\n", "share a name"),
        ("epochs = 3\ndelay = [2, 5]\n", "invalid trial"),
        ("noise = 0.2\nnoise = 0.1\n", "invalid TOML"),
        ("[sweep]\nname = 'my grid/1'\n", "key 'name' must be letters"),
    ],
)
def test_errors_name_the_file_and_key(text, message):
    with pytest.raises(ValueError, match=r"my\.toml") as info:
        parse_spec(text, source="my.toml")
    assert message in str(info.value)


def test_bundled_specs_load_and_expand():
    names = list_specs()
    assert {"paper-table1", "paper-fig5", "paper-fig6", "quick"} <= set(names)
    counts = {name: len(load_spec(name).trials()) for name in names}
    assert counts["paper-table1"] == 4 * 5 * 3  # 4 rows x {CE, FL, BL, PZ, auto} x 3 seeds
    assert counts["paper-fig5"] == (2 + 10 + 7) * 3
    assert counts["paper-fig6"] == (2 + 9 + 9) * 3
    assert counts["peer-losses"] == 2 * 10 * 3  # 2 datasets x 10 loss settings x 3 seeds
    # --loss auto's evidence: 10 rows x (its 10 candidates + 5 criteria) x 3 seeds; the
    # full-size confirmation 4 rows x {CE, BL, auto, auto-gap, auto-canary}, and a second
    # seed of {CE, BL, auto} on two rows; cv 4 rows x {CE, BL, auto, auto-gap} x 3 seeds
    assert counts["auto"] == 10 * 15 * 3 == 450
    assert counts["auto-full"] == 4 * 5 + 2 * 3
    assert counts["auto-cv"] == 4 * 4 * 3


def test_the_auto_specs_run_the_default_criterion_beside_the_others():
    """The protocol's default criterion (auto_criterion unset) beside others, named; the
    default on every row and no criterion twice (the counts above: nothing deduplicated)."""
    specs = (
        ("auto", "in-sample", set(CRITERIA)),
        ("auto-full", "in-sample", {"canary-f1-structured", "holdout-gap", "canary-f1"}),
        ("auto-cv", "cv", {"holdout-acc", "holdout-gap"}),
    )
    for name, protocol, criteria in specs:
        autos = [t for t in load_spec(name).trials() if t.loss == "auto"]
        assert {t.protocol for t in autos} == {protocol}
        resolved = [t.resolved()["auto_criterion"] for t in autos]
        assert set(resolved) == criteria
        unset = {c for t, c in zip(autos, resolved, strict=True) if t.auto_criterion is None}
        assert unset == {default_criterion(protocol)}
        per_row: dict[tuple, list[str]] = {}
        for t, c in zip(autos, resolved, strict=True):
            per_row.setdefault((t.dataset, t.noise_kind, t.noise, t.seed), []).append(c)
        for crits in per_row.values():  # the default on every row, no criterion twice
            assert default_criterion(protocol) in crits and len(set(crits)) == len(crits)


def test_peer_losses_pairs_detached_blurry_with_gce_of_the_same_exponent():
    trials = load_spec("peer-losses").trials()
    settings = {(t.loss, t.gamma, t.q, t.detach_weight) for t in trials}
    assert ("blurry", 0.4, None, None) in settings  # detached: the default
    assert ("blurry", 0.4, None, False) in settings  # the literal formula
    assert ("gce", None, 0.4, None) in settings  # the same gradient as detached blurry
    assert {t.loss for t in trials} == {
        "ce", "focal", "blurry", "pz", "gce", "mae", "sce", "nce+rce"
    }


def test_paper_table1_uses_the_papers_best_settings():
    trials = load_spec("paper-table1").trials()
    best = {
        (t.dataset, t.noise, t.loss): (t.gamma, t.cutoff, t.delay)
        for t in trials
    }
    assert best["mnist", 0.1, "blurry"] == (0.3, None, 0)
    assert best["mnist", 0.2, "blurry"] == (0.4, None, 0)
    assert best["fashion-mnist", 0.1, "blurry"] == (0.2, None, 0)
    assert best["fashion-mnist", 0.2, "blurry"] == (0.3, None, 0)
    assert best["mnist", 0.2, "pz"] == (None, 0.05, 4)
    assert best["mnist", 0.1, "pz"] == (None, 0.05, 6)
    assert best["fashion-mnist", 0.2, "focal"] == (2.0, None, 0)
    # our best beside the paper's: the label-free search on every row and seed
    auto = [t for t in trials if t.loss == "auto"]
    assert len(auto) == 12 and {t.protocol for t in auto} == {"cv"}
    assert all(t.protocol == "cv" and t.epochs == 10 for t in trials)


def test_quick_is_small():
    trials = load_spec("quick").trials()
    assert len(trials) <= 20
    assert all(t.subset <= 2000 and t.epochs <= 3 for t in trials)


def test_load_spec_by_path_and_unknown_name(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('loss = "ce"\nseed = [0, 1]\n', encoding="utf-8")
    spec = load_spec(path)
    assert spec.name == "mine" and len(spec.trials()) == 2 and spec.source == str(path)
    with pytest.raises(ValueError, match="neither a bundled spec"):
        load_spec(tmp_path / "missing.toml")
