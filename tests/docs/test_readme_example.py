"""The README's Python example runs as printed and finds the wrong labels it planted."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.mark.slow
def test_the_readme_python_example_runs_and_finds_the_planted_errors():
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.S | re.M)
    assert len(blocks) == 1, "the README has one Python example"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], str(README), "exec"), {"__name__": "readme_example"})
    scores = eval(out.getvalue().strip(), {})  # the dict score_detections returns
    assert scores["corrupted"] == 300 and scores["f1"] > 0.95, scores
