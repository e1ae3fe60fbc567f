"""Shared warm-ups whose source is a plain CE trial of the sweep: planning, bitwise equality
with solo runs, and resuming a sweep whose CE trial is already done."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from robustloss.sweeps.executors import close_client, make_client
from robustloss.sweeps.spec import load_spec, parse_spec, trial_hash
from robustloss.sweeps.store import ResultStore
from robustloss.sweeps.sweep import run_sweep
from robustloss.sweeps.warmup import MARKER, group_key, plan_warmups, warmup_folder
from robustloss.sweeps.worker import run_warmup
from synthetic import tiny_npz as _tiny_npz

SPEC = """
data = "{npz}"
noise = 0.2
model = "tiny"
epochs = 4
batch_size = 32
protocol = "{protocol}"
folds = 3

[sweep]
name = "ce-warm"

[[group]]
loss = "ce"
{delayed}
"""
PZ = """
[[group]]
loss = "pz"
cutoff = 0.1
delay = {delays}
"""
TIMING = ("seconds", "samples_per_s")


def _spec(npz: Path, *, protocol: str = "in-sample", delays: list[int] | None = None):
    delayed = "" if delays is None else PZ.format(delays=delays)
    return parse_spec(SPEC.format(npz=npz, protocol=protocol, delayed=delayed))


def _results(db: Path) -> dict[str, tuple[dict, list[dict]]]:
    """Every done trial's summary (less its run time) and history (less timings)."""
    out = {}
    with ResultStore(db, readonly=True) as store:
        for t in store.trials(status="done"):
            timings = ("seconds", "detector_seconds")  # run time, detection's time
            summary = {k: v for k, v in t.summary.to_dict().items() if k not in timings}
            history = []
            for row in store.history(t.hash):
                history.append({k: v for k, v in row.items() if k not in TIMING})
            out[t.hash] = (summary, history)
    return out


@pytest.fixture
def client():
    # One in-process worker: trials never overlap in a process (torch's global generator).
    client = make_client("local", n_workers=1, processes=False)
    yield client
    close_client(client)


# ----- planning ------------------------------------------------------------------------------


def _trials(text: str) -> list[tuple[str, dict]]:
    return [(trial_hash(c), c) for c in parse_spec(text).trials()]


BASE = 'protocol = "cv"\nfolds = 5\nepochs = 10\n'
CE = '[[group]]\nloss = "ce"\n'
PZ6 = '[[group]]\nloss = "pz"\ncutoff = 0.05\ndelay = 6\n'


def test_a_ce_trial_is_the_warmup_of_a_single_delayed_trial():
    trials = _trials(BASE + CE + PZ6)
    (ce_hash, _), (pz_hash, _) = trials
    plan = plan_warmups(trials)
    [group] = plan.groups
    assert (group.kind, group.source, group.members) == ("trial", ce_hash, (pz_hash,))
    assert group.config == trials[0][1] and group.epochs == 6 and group.cost == 0
    assert plan.assignment == {ce_hash: group, pz_hash: group}
    assert plan.epochs_alone == 2 * 50
    assert plan.epochs_shared == 50 + 5 * (10 - 6)  # the CE trial's epochs count once
    # Without the CE trial a lone delayed trial shares nothing.
    assert plan_warmups(trials[1:]).groups == []
    # Detection settings may differ: the CE trial is still the warm-up.
    other = _trials(BASE + CE + 'method = "both"\n' + PZ6)
    assert plan_warmups(other).groups[0].kind == "trial"


def test_warmup_source_preference_and_fallbacks():
    short_ce = '[[group]]\nloss = "ce"\nepochs = 5\n'  # fewer epochs than the delay 6
    two = '[[group]]\nloss = "blurry"\ngamma = 0.4\ndelay = [2, 6]\n'
    trials = _trials(BASE + short_ce + PZ6)
    assert plan_warmups(trials).groups == []
    trials = _trials(BASE + short_ce + two)
    [group] = plan_warmups(trials).groups
    assert (group.kind, group.source, group.cost) == ("run", None, 5 * 6)
    assert group.config.loss == "ce" and group.config.delay == group.config.epochs == 6
    # A complete warm-up of enough epochs on disk beats both, and costs nothing.
    trials = _trials(BASE + CE + PZ6)
    key = group_key(trials[1][1])
    plan = plan_warmups(trials, on_disk={key: frozenset({6})}.get)
    [group] = plan.groups
    assert (group.kind, group.source, group.cost) == ("on disk", None, 0)
    assert plan.epochs_shared == 50 + 5 * 4
    assert trials[0][0] not in plan.assignment  # the CE trial runs as a plain trial
    # On disk but without a checkpoint at the delay 6 (kept for other delays): not usable.
    assert plan_warmups(trials, on_disk={key: frozenset({5, 8})}.get).groups[0].kind == "trial"
    on_disk = {key: frozenset(range(1, 9))}.get
    assert plan_warmups(_trials(BASE + PZ6), on_disk=on_disk).groups[0].kind == "on disk"
    # paper-cv carries one model across folds: nothing is shared, CE trial or not.
    carried = BASE.replace('"cv"', '"paper-cv"') + CE + PZ6
    assert plan_warmups(_trials(carried)).groups == []


@pytest.mark.parametrize(
    ("name", "alone", "shared", "groups"),
    [
        ("paper-table1", 3900, 3570, 12),  # each row's PZ trial starts from its CE trial
        ("paper-fig5", 2850, 1830, 3),
        ("paper-fig6", 3000, 1920, 3),
    ],
)
def test_bundled_specs_share_with_their_ce_trials(name, alone, shared, groups):
    spec = load_spec(name)
    plan = plan_warmups([(trial_hash(c), c) for c in spec.trials()])
    assert (plan.epochs_alone, plan.epochs_shared, len(plan.groups)) == (alone, shared, groups)
    assert {g.kind for g in plan.groups} == {"trial"}


def test_dry_run_text_marks_the_ce_trial_that_is_the_warmup(tmp_path):
    out = io.StringIO()
    result = run_sweep("paper-fig6", db_path=tmp_path / "r.db", dry_run=True, stream=out)
    text = out.getvalue()
    assert result.warmup_kinds == {"trial": 3} and result.epochs == 1920
    assert "shared warm-ups: 3: 3 CE trial(s) of the sweep run with checkpoints" in text
    assert "epochs: 1920 with shared warm-ups, 3000 with each trial run alone: 1080 saved, " \
        "0.64x" in text
    ce_rows = [r for r in result.plan if r["loss"] == "ce"]
    assert [r["warmup"] for r in ce_rows] == ["W1*", "W2*", "W3*"]
    assert all(r["epochs"] == 50 for r in ce_rows)
    assert {r["epochs"] for r in result.plan if r["warmup"] == "W1" and r["delay"] == 8} == {10}
    assert not (tmp_path / "r.db").exists()


# ----- running -------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("protocol", ["cv", "in-sample"])
def test_delayed_trial_from_the_ce_trial_equals_running_it_alone(tmp_path, client, protocol):
    spec = _spec(_tiny_npz(tmp_path / "tiny.npz"), protocol=protocol, delays=[2])
    warm = tmp_path / "warmups"
    shared = run_sweep(spec, db_path=tmp_path / "shared.db", client=client, progress=False,
                       warmup_dir=warm, threads=1)
    alone = run_sweep(spec, db_path=tmp_path / "alone.db", client=client, progress=False,
                      shared_warmup=False, threads=1)
    assert (shared.done, shared.failed, alone.done, alone.failed) == (2, 0, 2, 0), (
        shared.failures or alone.failures
    )
    models = 3 if protocol == "cv" else 1
    assert shared.warmup_kinds == {"trial": 1}
    assert alone.epochs == models * 8 and shared.epochs == models * (4 + 2)
    a, b = _results(tmp_path / "shared.db"), _results(tmp_path / "alone.db")
    assert a.keys() == b.keys() and len(a) == 2
    for h in a:
        assert a[h] == b[h]  # summaries (pred-prob-derived numbers too) and histories, exactly
        assert len(a[h][1]) == 4 * models
    pz = next(h for h in a if a[h][0]["config"]["loss"] == "pz")
    assert [r["loss_in_use"] for r in a[pz][1][:4]] == ["ce", "ce", "pz", "pz"]
    assert not warm.exists()  # checkpoints removed once the group was done


@pytest.mark.timeout(120)
@pytest.mark.parametrize("left_on_disk", [False, True])
def test_resumed_sweep_whose_ce_trial_is_done(tmp_path, client, left_on_disk):
    """A sweep stopped after its CE trial: the delayed trials still start from a warm-up.

    Without the CE trial's checkpoints a dedicated warm-up is trained; with them (a sweep
    killed after the CE trial finished leaves a complete folder) they are reused.
    """
    npz = _tiny_npz(tmp_path / "tiny.npz")
    db, warm = tmp_path / "r.db", tmp_path / "warmups"
    ce_only = run_sweep(_spec(npz), db_path=db, client=client, progress=False,
                        warmup_dir=warm, threads=1)
    assert ce_only.done == 1 and ce_only.warmups == 0
    spec = _spec(npz, delays=[1, 2])
    ce_config = spec.trials()[0]
    folder = warmup_folder(warm, spec.name, group_key(ce_config))
    if left_on_disk:  # what the CE trial's worker wrote (worker.run_trial with checkpoints)
        run_warmup(dataclasses.replace(ce_config, threads=1), folder, keep=[1, 2])
        assert (folder / MARKER).is_file()
        # Only the checkpoints at the delays stay: 2 of 4 epochs, per fold model.
        assert sorted(p.name for p in (folder / "model-0").glob("epoch-*.pt")) == [
            "epoch-001.pt", "epoch-002.pt"
        ]
    resumed = run_sweep(spec, db_path=db, client=client, progress=False, warmup_dir=warm,
                        threads=1)
    assert (resumed.skipped, resumed.done, resumed.failed) == (1, 2, 0), resumed.failures
    kind = "on disk" if left_on_disk else "run"
    assert resumed.warmup_kinds == {kind: 1}
    assert resumed.epochs == (0 if left_on_disk else 2) + (4 - 1) + (4 - 2)
    alone = run_sweep(spec, db_path=tmp_path / "alone.db", client=client, progress=False,
                      shared_warmup=False, threads=1)
    assert alone.done == 3
    assert _results(db) == _results(tmp_path / "alone.db")
    assert not warm.exists()
