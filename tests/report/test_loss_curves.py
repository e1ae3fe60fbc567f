"""Tests of the loss-curve figures (robustloss.report.sweep.loss_curves) and `plot-losses`."""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
from PIL import Image

from robustloss.cli import plot as plot_cli
from robustloss.report.sweep import loss_curves as lc

FILES = [
    "figure2_ce_vs_focal.png",
    "figure3_blurry.png",
    "figure4_piecewise_zero.png",
    "gradient_weight.png",
]


@pytest.fixture(scope="module")
def figures():
    return {f.key: f for f in lc.loss_curve_data(num_points=200)}


def test_curve_data_structure(figures):
    assert list(figures) == ["focal", "blurry", "pz", "weight"]
    assert [f.filename for f in figures.values()] == FILES
    assert len(figures["focal"].curves) == len(lc.FOCAL_GAMMAS) == 5
    assert len(figures["blurry"].curves) == len(lc.BLURRY_GAMMAS) == 6
    assert len(figures["pz"].curves) == len(lc.PZ_CUTOFFS) == 4
    for f in figures.values():
        assert f.x.shape == (200,)
        assert f.x.min() > 0
        assert f.title and f.xlabel and f.ylabel
        for y in f.curves.values():
            assert y.shape == f.x.shape
            assert np.isfinite(y).all()
    assert figures["focal"].x.max() == 1.0  # (0, 1]
    assert figures["weight"].x.max() < 1.0  # (0, 1)


def test_loss_curves_equal_the_formulas(figures):
    p = figures["focal"].x
    ce = -np.log(p)
    for g, y in zip(lc.FOCAL_GAMMAS, figures["focal"].curves.values(), strict=True):
        np.testing.assert_allclose(y, (1 - p) ** g * ce, rtol=1e-12, atol=1e-15)
    for g, y in zip(lc.BLURRY_GAMMAS, figures["blurry"].curves.values(), strict=True):
        np.testing.assert_allclose(y, p**g * ce, rtol=1e-12, atol=1e-15)
    for c, y in zip(lc.PZ_CUTOFFS, figures["pz"].curves.values(), strict=True):
        np.testing.assert_allclose(y, np.where(p <= c, 0.0, ce), rtol=1e-12, atol=1e-15)
    # the end points: every loss is 0 at p_t = 1
    assert all(y[-1] == 0 for f in ("focal", "blurry", "pz") for y in figures[f].curves.values())


def test_gradient_weights_equal_the_formulas(figures):
    fig = figures["weight"]
    p = fig.x
    g = 0.4
    expected = [
        np.ones_like(p),  # cross entropy
        p**g,  # Blurry detached = GCE q = g
        p**g * (1 + g * np.log(p)),  # Blurry literal
        (1 - p) ** 2 - 2 * (1 - p) * p * np.log(p),  # focal gamma = 2
        p**0.7,  # GCE q = 0.7
        np.where(p <= 0.05, 0.0, 1.0),  # PZ c = 0.05
    ]
    assert len(fig.curves) == len(expected)
    for y, e in zip(fig.curves.values(), expected, strict=True):
        np.testing.assert_allclose(y, e, rtol=1e-9, atol=1e-12)
    (x_sign,) = fig.vlines
    assert x_sign == pytest.approx(math.exp(-1 / g))
    literal = list(fig.curves.values())[2]
    assert ((literal < 0) == (p < x_sign)).all()


def _check_png(path, dpi):
    assert path.is_file()
    with Image.open(path) as im:
        im.verify()
    with Image.open(path) as im:
        assert im.format == "PNG"
        width, height = im.size
        # 7 x 4.8 inches at `dpi`
        assert width == pytest.approx(7.0 * dpi, abs=2)
        assert height == pytest.approx(4.8 * dpi, abs=2)
        arr = np.asarray(im.convert("L"))
    assert arr.std() > 10  # not blank: axes, curves and text
    assert path.stat().st_size > 10_000


def test_plot_loss_curves_writes_pngs(tmp_path):
    out = tmp_path / "figs" / "nested"
    paths = lc.plot_loss_curves(out, dpi=60)
    assert [p.name for p in paths] == FILES
    for path in paths:
        _check_png(path, 60)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary files left
    # rewriting replaces the files
    again = lc.plot_loss_curves(out, dpi=40)
    assert again == paths
    _check_png(paths[0], 40)


@pytest.mark.parametrize("dpi", [0, 5, -1, 1.5, True, "100"])
def test_plot_loss_curves_bad_dpi(tmp_path, dpi):
    with pytest.raises(ValueError, match=r"`dpi`.*int >= 10.*but got"):
        lc.plot_loss_curves(tmp_path, dpi=dpi)


def test_plot_loss_curves_out_is_a_file(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(ValueError, match=r"`out_dir`.*existing file"):
        lc.plot_loss_curves(target)


def test_loss_curve_data_bad_num_points():
    with pytest.raises(ValueError, match="`num_points`"):
        lc.loss_curve_data(num_points=3)


def _parser():
    parser = argparse.ArgumentParser(prog="robustloss")
    sub = parser.add_subparsers(dest="command")
    plot_cli.register(sub)
    return parser


def test_cli_plot_losses(tmp_path, capsys):
    out = tmp_path / "cli-figs"
    args = _parser().parse_args(["plot-losses", "--out", str(out), "--dpi", "50"])
    assert args.func(args) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / name) for name in FILES]
    for name in FILES:
        _check_png(out / name, 50)


def test_cli_plot_losses_requires_out():
    with pytest.raises(SystemExit):
        _parser().parse_args(["plot-losses"])


def test_cli_plot_losses_bad_dpi_is_value_error(tmp_path):
    args = _parser().parse_args(["plot-losses", "--out", str(tmp_path), "--dpi", "0"])
    with pytest.raises(ValueError, match="`dpi`"):
        args.func(args)
