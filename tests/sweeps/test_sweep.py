"""Sweeps with cheap fake trials: skipping, failures, dry runs, resuming after SIGKILL."""

from __future__ import annotations

import dataclasses
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from robustloss.sweeps.executors import close_client, make_client
from robustloss.sweeps.spec import parse_spec, trial_hash
from robustloss.sweeps.store import ResultStore
from robustloss.sweeps.sweep import default_db_path, execute_trial, run_sweep
from robustloss.sweeps.warmup import plan_warmups, trial_epochs
from robustloss.sweeps.worker import execute_warmup

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from sweep_fakes import fake_summary, fake_trial  # noqa: E402
from synthetic import tiny_npz as _tiny_npz  # noqa: E402

GRID = """
dataset = "mnist"
noise = 0.2
epochs = 3

[sweep]
name = "grid"
seeds = [0, 1, 2]

[[group]]
name = "ce"
loss = "ce"

[[group]]
name = "blurry"
loss = "blurry"
gamma = [0.2, 0.4]
delay = [0, 1, 2]
"""
N_GRID = 3 + 3 * 6


@pytest.fixture
def client():
    client = make_client("local", n_workers=2, processes=False)  # threads: fast start-up
    yield client
    close_client(client)


def _rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def test_execute_trial_returns_plain_records():
    config = parse_spec('loss = "ce"\nepochs = 2\n').trials()[0]
    record = execute_trial(config, trial_fn=fake_trial, threads=1)
    assert record["status"] == "done" and record["error"] is None
    assert record["summary"] == fake_summary(config)
    assert record["worker"].endswith(f":{os.getpid()}") and record["seconds"] >= 0
    failed = execute_trial(dataclasses.replace(config, seed=13), trial_fn=fake_trial)
    assert failed["status"] == "failed" and failed["summary"] is None
    assert "RuntimeError: seed 13 is unlucky" in failed["error"]
    assert "Traceback" in failed["error"]
    broken_warmup = {"status": "failed", "error": "OSError: disk full", "worker": "w:1"}
    record = execute_trial(config, trial_fn=fake_trial, warmup=broken_warmup)
    assert record["status"] == "failed" and "disk full" in record["error"]


def test_sweep_records_every_trial_then_skips_them(tmp_path, client):
    db = tmp_path / "r.db"
    spec = parse_spec(GRID)
    stream = io.StringIO()
    result = run_sweep(spec, db_path=db, client=client, trial_fn=fake_trial, stream=stream)
    assert (result.total, result.done, result.failed, result.skipped) == (N_GRID, N_GRID, 0, 0)
    assert result.ok
    assert "trial" in stream.getvalue()  # the progress bar went to the stream
    with ResultStore(db, readonly=True) as store:
        trials = store.trials(sweep="grid")
        assert [t.hash for t in trials] == [trial_hash(c) for c in spec.trials()]
        for trial in trials:
            assert trial.status == "done" and trial.attempts == 1
            assert trial.summary.f1 == fake_summary(trial.config)["f1"]
    assert _rows(db, "history") == N_GRID * 3

    again = run_sweep(spec, db_path=db, client=client, trial_fn=fake_trial, progress=False)
    assert (again.skipped, again.done, again.remaining) == (N_GRID, 0, 0)
    with ResultStore(db, readonly=True) as store:
        assert store.runs()[-1].submitted == 0
    assert _rows(db, "trials") == N_GRID


def test_failures_are_recorded_and_retried(tmp_path, client):
    db = tmp_path / "r.db"
    spec = parse_spec('loss = "ce"\nepochs = 2\nseed = [0, 13, 2]\n', name="f")
    result = run_sweep(spec, db_path=db, client=client, trial_fn=fake_trial, progress=False)
    assert (result.done, result.failed) == (2, 1) and not result.ok
    assert result.failures[0][1] == "RuntimeError: seed 13 is unlucky"
    with ResultStore(db, readonly=True) as store:
        failed = store.trials(status="failed")
        assert len(failed) == 1 and "seed 13 is unlucky" in failed[0].error
    skipped = run_sweep(spec, db_path=db, client=client, trial_fn=fake_trial, progress=False,
                        retry_failed=False)
    assert (skipped.skipped, skipped.failed) == (3, 0)
    retried = run_sweep(spec, db_path=db, client=client, trial_fn=fake_trial, progress=False)
    assert (retried.skipped, retried.failed) == (2, 1)
    with ResultStore(db, readonly=True) as store:
        assert store.trials(status="failed")[0].attempts == 2


def test_dry_run_lists_without_writing(tmp_path):
    db = tmp_path / "r.db"
    out = io.StringIO()
    result = run_sweep(parse_spec(GRID), db_path=db, dry_run=True, stream=out)
    assert not db.exists()
    text = out.getvalue()
    assert "blurry gamma=0.4" in text and f"{N_GRID} trials: 0 done, {N_GRID} to run" in text
    assert result.epochs_alone == N_GRID * 3
    assert len(result.plan) == N_GRID


def test_a_second_driver_is_refused_and_changes_nothing(tmp_path, client):
    db = tmp_path / "r.db"
    with ResultStore(db) as holder:
        holder.open_for_sweep(name="grid", trials=[])
        holder.lock()
        with pytest.raises(ValueError, match="another sweep driver"):
            run_sweep(parse_spec(GRID), db_path=db, client=client, trial_fn=fake_trial)
    assert _rows(db, "trials") == 0


def test_default_db_path():
    assert default_db_path("paper-table1") == Path("runs/paper-table1/results.db")


def test_warmup_accounting_of_delay_sweeps():
    def trials(text):
        return [(trial_hash(c), c) for c in parse_spec(text).trials()]

    nine = trials('loss = "pz"\ncutoff = 0.05\nepochs = 10\ndelay = [0,1,2,3,4,5,6,7,8]\n')
    plan = plan_warmups(nine)
    assert plan.epochs_alone == 90
    assert plan.epochs_shared == 8 + sum(10 - d for d in range(9))  # 62
    assert len(plan.groups) == 1 and plan.groups[0].epochs == 8
    assert len(plan.groups[0].members) == 8  # delay 0 has nothing to share

    fig6 = trials(
        'protocol = "cv"\nfolds = 5\nepochs = 10\nseed = [0, 1]\n'
        '[[group]]\nloss = "blurry"\ngamma = 0.4\ndelay = [0,1,2,3,4,5,6,7,8]\n'
        '[[group]]\nloss = "pz"\ncutoff = 0.05\ndelay = [0,1,2,3,4,5,6,7,8]\n'
    )
    plan = plan_warmups(fig6)
    assert len(plan.groups) == 2  # one per seed
    assert plan.epochs_alone == 2 * 18 * 50
    assert plan.epochs_shared == 2 * 5 * (8 + 2 * 54)
    assert plan.ratio == pytest.approx(116 / 180)
    assert plan_warmups(fig6, enabled=False).ratio == 1.0
    # paper-cv carries one model across folds: nothing is shared.
    carried = trials('protocol = "paper-cv"\nepochs = 10\nloss = "pz"\ncutoff = 0.05\n'
                     'delay = [2, 4]\n')
    assert plan_warmups(carried).groups == []
    assert trial_epochs(carried[0][1]) == 50


KILL_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from robustloss.sweeps.executors import make_client
from robustloss.sweeps.spec import load_spec
from robustloss.sweeps.sweep import run_sweep
from sweep_fakes import fake_trial
if __name__ == "__main__":
    client = make_client("local", n_workers=2, processes=False)
    run_sweep(load_spec({spec!r}), db_path={db!r}, client=client, trial_fn=fake_trial,
              progress=False)
"""


def _done(db: Path) -> dict[str, tuple]:
    with ResultStore(db, readonly=True) as store:
        return {
            t.hash: (t.finished, t.worker, t.summary.f1)
            for t in store.trials(status="done")
        }


def _counts(db: Path) -> dict[str, int]:
    with ResultStore(db, readonly=True) as store:
        return store.counts()


@pytest.mark.timeout(120)
def test_sigkill_mid_sweep_loses_nothing_and_duplicates_nothing(tmp_path, client):
    spec_path = tmp_path / "grid.toml"
    spec_path.write_text(GRID, encoding="utf-8")
    db = tmp_path / "r.db"
    script = tmp_path / "driver.py"
    script.write_text(KILL_SCRIPT.format(tests=str(TESTS), spec=str(spec_path), db=str(db)))
    env = {**os.environ, "ROBUSTLOSS_FAKE_SLEEP": "0.15"}

    kept: dict[str, tuple] = {}
    for kill_after in (3, 9):
        proc = subprocess.Popen([sys.executable, str(script)], env=env,
                                start_new_session=True, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if db.exists() and proc.poll() is None:
                    try:
                        if len(_done(db)) >= kill_after:
                            break
                    except (ValueError, sqlite3.OperationalError):
                        pass  # schema not created yet
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.02)
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        counts = _counts(db)
        assert counts["running"] > 0  # killed mid-sweep, trials in flight
        done = _done(db)
        assert len(done) < N_GRID
        # Nothing finished before is lost or re-run: same row, same finish time.
        assert all(done[h] == kept[h] for h in kept)
        kept = done

    result = run_sweep(parse_spec(GRID), db_path=db, client=client, trial_fn=fake_trial,
                       progress=False)
    assert result.skipped == len(kept) and result.done == N_GRID - len(kept)
    final = _done(db)
    assert len(final) == N_GRID
    assert all(final[h] == kept[h] for h in kept)
    assert _rows(db, "trials") == N_GRID
    assert _rows(db, "history") == N_GRID * 3
    with sqlite3.connect(db) as conn:
        per_trial = conn.execute("SELECT hash, COUNT(*) FROM history GROUP BY hash").fetchall()
    assert {n for _, n in per_trial} == {3}
    with ResultStore(db, readonly=True) as store:
        assert len(store.runs()) == 3
        for trial in store.trials():
            assert trial.summary.f1 == fake_summary(trial.config)["f1"]


@pytest.mark.timeout(60)
def test_worker_processes_write_nothing_and_rows_stay_unique(tmp_path):
    db = tmp_path / "r.db"
    spec = parse_spec(GRID)
    procs = make_client("local", n_workers=2)
    try:
        result = run_sweep(spec, db_path=db, client=procs, trial_fn=fake_trial, progress=False)
    finally:
        close_client(procs)
    assert result.done == N_GRID
    assert _rows(db, "trials") == N_GRID and _rows(db, "history") == N_GRID * 3
    with ResultStore(db, readonly=True) as store:
        pids = {int(t.worker.split(":")[1]) for t in store.trials()}
    assert os.getpid() not in pids and len(pids) <= 2

WARM_SPEC = """
data = "{npz}"
noise = 0.2
model = "tiny"
epochs = 4
batch_size = 32
protocol = "{protocol}"
folds = 3

[sweep]
name = "warm"

[[group]]
loss = "blurry"
gamma = 0.4
delay = [1, 2, 3]

[[group]]
loss = "pz"
cutoff = 0.1
delay = [0, 1, 3]
"""


def _outcomes(db: Path) -> dict[str, tuple]:
    keys = ("precision", "recall", "f1", "flagged", "correct", "test_acc", "top_suspects")
    with ResultStore(db, readonly=True) as store:
        return {
            t.hash: (
                [getattr(t.summary, k) for k in keys],
                [(h["fold"], h["epoch"], h["train_loss"], h["loss_in_use"])
                 for h in store.history(t.hash)],
            )
            for t in store.trials()
        }


@pytest.mark.timeout(120)
@pytest.mark.parametrize("protocol", ["cv", "in-sample"])
def test_shared_warmup_is_bitwise_equal_to_solo_runs(tmp_path, protocol):
    npz = _tiny_npz(tmp_path / "tiny.npz")
    spec = parse_spec(WARM_SPEC.format(npz=npz, protocol=protocol))
    warm = tmp_path / "warmups"
    # One in-process worker: trials never overlap in a process (torch's global generator).
    client = make_client("local", n_workers=1, processes=False)
    try:
        shared = run_sweep(spec, db_path=tmp_path / "shared.db", client=client,
                           progress=False, warmup_dir=warm, threads=1)
        alone = run_sweep(spec, db_path=tmp_path / "alone.db", client=client, progress=False,
                          shared_warmup=False, threads=1)
    finally:
        close_client(client)
    assert (shared.done, shared.failed, alone.done, alone.failed) == (6, 0, 6, 0), (
        shared.failures or alone.failures
    )
    models = 3 if protocol == "cv" else 1
    assert shared.warmups == 1 and alone.warmups == 0
    assert alone.epochs == alone.epochs_alone == 6 * 4 * models
    # Warm-up of 3 epochs, then each delayed trial trains only its epochs after d.
    assert shared.epochs == models * (3 + (3 + 2 + 1) + 4 + (3 + 1))
    a, b = _outcomes(tmp_path / "shared.db"), _outcomes(tmp_path / "alone.db")
    assert a.keys() == b.keys()
    for h in a:
        assert a[h] == b[h]  # summaries and every epoch's training loss, exactly
        assert len(a[h][1]) == 4 * models
    assert not warm.exists()  # checkpoints removed once every trial was done


@pytest.mark.timeout(60)
def test_a_complete_warmup_is_reused(tmp_path):
    npz = _tiny_npz(tmp_path / "tiny.npz")
    trials = [(trial_hash(c), c)
              for c in parse_spec(WARM_SPEC.format(npz=npz, protocol="cv")).trials()]
    group = plan_warmups(trials).groups[0]
    folder = tmp_path / "w"
    first = execute_warmup(group.config, str(folder), threads=1)
    assert first["status"] == "done" and first["reused"] is False, first.get("error")
    assert sorted(p.name for p in (folder / "model-0").glob("epoch-*.pt")) == [
        "epoch-001.pt", "epoch-002.pt", "epoch-003.pt"
    ]
    again = execute_warmup(group.config, str(folder), threads=1)
    assert again["status"] == "done" and again["reused"] is True
    # Keeping only the delays the members need; a later need outside them trains again.
    pruned = execute_warmup(group.config, str(tmp_path / "p"), keep=[2], threads=1)
    assert pruned["status"] == "done", pruned.get("error")
    assert [p.name for p in (tmp_path / "p" / "model-0").glob("epoch-*.pt")] == ["epoch-002.pt"]
    assert execute_warmup(group.config, str(tmp_path / "p"), keep=[2], threads=1)["reused"]
    assert not execute_warmup(group.config, str(tmp_path / "p"), keep=[1], threads=1)["reused"]
    (folder / "warmup.json").unlink()  # an interrupted warm-up is trained again
    assert execute_warmup(group.config, str(folder), threads=1)["reused"] is False


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_cli_sweep_runs_real_trials_on_worker_processes(tmp_path, capsys):
    import argparse

    from robustloss.cli import sweep as sweep_cli

    def cli(*argv: str) -> int:
        parser = argparse.ArgumentParser()
        sweep_cli.register(parser.add_subparsers(dest="command"))
        args = parser.parse_args(list(argv))
        return args.func(args)

    npz = _tiny_npz(tmp_path / "tiny.npz")
    spec = tmp_path / "tiny.toml"
    spec.write_text(WARM_SPEC.format(npz=npz, protocol="in-sample"), encoding="utf-8")
    db = tmp_path / "runs" / "tiny.db"
    assert cli("sweep", str(spec), "--db", str(db), "--workers", "2", "--quiet") == 0
    out = capsys.readouterr().out
    assert "6 done now, 0 failed" in out and "shared warm-ups: 1" in out
    with ResultStore(db, readonly=True) as store:
        trials = store.trials()
        assert {t.status for t in trials} == {"done"}
        assert all(t.worker.split(":")[1] != str(os.getpid()) for t in trials)
        assert all(0.0 <= t.summary.f1 <= 1.0 for t in trials)
        assert all(t.summary.config["threads"] == 1 for t in trials)  # set per trial
    assert cli("sweep", str(spec), "--db", str(db), "--quiet") == 0  # all done: nothing runs
    assert "6 already done, 0 done now" in capsys.readouterr().out
