"""The top-level ``robustloss`` command: version, help, errors as one line, closed pipes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from robustloss import __version__, cli


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"robustloss {__version__}"


def test_no_command_prints_help_listing_every_command(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    for command in ("plot-losses", "data", "overfit-point", "run", "detect", "sweep",
                    "results", "report", "reproduce"):  # fmt: skip
        assert command in out


def test_bad_input_is_one_line_with_exit_status_2(capsys):
    assert cli.main(["run", "--dataset", "mnist", "--loss", "ce", "--gamma", "0.4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("robustloss run: error: ") and "gamma" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_a_closed_pipe_is_not_a_traceback(tmp_path):
    # `robustloss sweep ... --dry-run | head -1`: the reader goes away early.
    argv = ["sweep", "paper-fig6", "--dry-run", "--db", str(tmp_path / "r.db")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "robustloss", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # before the command writes anything: every write hits a closed pipe
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) in (0, 1)
    assert "Traceback" not in err and "BrokenPipeError" not in err
