"""Tests of robustloss.losses: identities, hand-computed values, gradients, numerics, errors."""

from __future__ import annotations

import math

import hypothesis.extra.numpy as hnp
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from torch.testing import assert_close

from robustloss import losses as L

# name -> (functional, hyperparameters used in the generic tests)
FUNCTIONALS = {
    "ce": (L.cross_entropy, {}),
    "focal": (L.focal_loss, {"gamma": 2.0}),
    "focal-detached": (L.focal_loss, {"gamma": 0.5, "detach_weight": True}),
    "blurry": (L.blurry_loss, {"gamma": 0.4}),
    "blurry-literal": (L.blurry_loss, {"gamma": 0.4, "detach_weight": False}),
    "pz": (L.piecewise_zero_loss, {"cutoff": 0.05}),
    "gce": (L.generalized_cross_entropy, {"q": 0.7}),
    "mae": (L.mean_absolute_error, {}),
    "sce": (L.symmetric_cross_entropy, {"alpha": 0.1, "beta": 1.0}),
    "nce+rce": (L.nce_rce, {"alpha": 1.0, "beta": 1.0}),
}
ALL = sorted(FUNCTIONALS)


def _data(n=16, c=5, *, seed=0, scale=3.0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, c, generator=gen, dtype=torch.float64) * scale).to(dtype)
    t = torch.randint(0, c, (n,), generator=gen)
    return x, t


def _grad(fn, x, t, **kw):
    """(loss, d loss / d x) with x a fresh leaf."""
    x = x.detach().clone().requires_grad_(True)
    loss = fn(x, t, **kw)
    loss.backward()
    return loss.detach(), x.grad


def _ce_per_sample_grad(x, t):
    """softmax - onehot: the gradient of the summed cross entropy w.r.t. the logits."""
    return torch.softmax(x, dim=1) - F.one_hot(t, x.shape[1]).to(x.dtype)


# --------------------------------------------------------------------------------------
# Identities with cross entropy, on values and gradients
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "kw"),
    [
        (L.focal_loss, {"gamma": 0.0}),
        (L.focal_loss, {"gamma": 0.0, "detach_weight": True}),
        (L.blurry_loss, {"gamma": 0.0}),
        (L.blurry_loss, {"gamma": 0.0, "detach_weight": False}),
        (L.piecewise_zero_loss, {"cutoff": 0.0}),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_identity_with_cross_entropy(fn, kw, reduction):
    x, t = _data(n=32, c=7, scale=4.0)
    assert_close(fn(x, t, reduction=reduction, **kw), F.cross_entropy(x, t, reduction=reduction))
    for red in ("mean", "sum"):
        _, grad = _grad(fn, x, t, reduction=red, **kw)
        _, ref_grad = _grad(F.cross_entropy, x, t, reduction=red)
        assert_close(grad, ref_grad)


@pytest.mark.parametrize(
    ("fn", "kw"),
    [
        (L.focal_loss, {"gamma": 0.0}),
        (L.blurry_loss, {"gamma": 0.0, "detach_weight": False}),
        (L.piecewise_zero_loss, {"cutoff": 0.0}),
    ],
)
def test_identity_with_cross_entropy_when_p_t_rounds_to_one(fn, kw):
    # float32 rows where log p_t rounds to exactly 0 but the other classes keep tiny
    # probabilities: CE's gradient there is tiny, not 0, and the identity must keep it.
    x, targets = _extreme_logits(torch.float32)
    for t in targets:
        _, grad = _grad(fn, x, t, reduction="sum", **kw)
        _, ref = _grad(F.cross_entropy, x, t, reduction="sum")
        assert_close(grad, ref, rtol=1e-6, atol=0)


def test_cross_entropy_matches_torch():
    x, t = _data(n=20, c=6)
    for reduction in ("mean", "sum", "none"):
        assert_close(
            L.cross_entropy(x, t, reduction=reduction), F.cross_entropy(x, t, reduction=reduction)
        )
    assert_close(_grad(L.cross_entropy, x, t)[1], _grad(F.cross_entropy, x, t)[1])


# --------------------------------------------------------------------------------------
# Hand-computed small cases: logits are log-probabilities, so p is known exactly
# --------------------------------------------------------------------------------------

P = [[0.5, 0.25, 0.25], [0.1, 0.2, 0.7]]
T = [0, 1]  # p_t = 0.5 and 0.2
LN2, LN5 = math.log(2.0), math.log(5.0)

HAND = [
    (L.cross_entropy, {}, [LN2, LN5]),
    (L.focal_loss, {"gamma": 2.0}, [0.25 * LN2, 0.64 * LN5]),
    (L.focal_loss, {"gamma": 0.5}, [math.sqrt(0.5) * LN2, math.sqrt(0.8) * LN5]),
    (L.blurry_loss, {"gamma": 0.5}, [math.sqrt(0.5) * LN2, math.sqrt(0.2) * LN5]),
    (L.blurry_loss, {"gamma": 1.0, "detach_weight": False}, [0.5 * LN2, 0.2 * LN5]),
    (L.piecewise_zero_loss, {"cutoff": 0.3}, [LN2, 0.0]),
    (L.piecewise_zero_loss, {"cutoff": 0.1}, [LN2, LN5]),
    (L.piecewise_zero_loss, {"cutoff": 0.5}, [0.0, 0.0]),  # p_t == c is zeroed (formula)
    (
        L.generalized_cross_entropy,
        {"q": 0.5},
        [(1 - math.sqrt(0.5)) / 0.5, (1 - math.sqrt(0.2)) / 0.5],
    ),
    (L.generalized_cross_entropy, {"q": 1.0}, [0.5, 0.8]),
    (L.mean_absolute_error, {}, [1.0, 1.6]),
    (L.symmetric_cross_entropy, {}, [0.1 * LN2 + 4 * 0.5, 0.1 * LN5 + 4 * 0.8]),
    (
        L.symmetric_cross_entropy,
        {"alpha": 2.0, "beta": 0.5, "log_zero": -6.0},
        [2 * LN2 + 0.5 * 6 * 0.5, 2 * LN5 + 0.5 * 6 * 0.8],
    ),
    (
        L.nce_rce,
        {},
        [
            1 / 5 + 4 * 0.5,  # log .5 / (log .5 + 2 log .25) = 1/5
            math.log(0.2) / (math.log(0.1) + math.log(0.2) + math.log(0.7)) + 4 * 0.8,
        ],
    ),
    (L.nce_rce, {"alpha": 1.0, "beta": 0.0}, [0.2, math.log(0.2) / math.log(0.1 * 0.2 * 0.7)]),
]


@pytest.mark.parametrize(("fn", "kw", "expected"), HAND)
def test_hand_computed_values(fn, kw, expected):
    x = torch.tensor(P, dtype=torch.float64).log()
    t = torch.tensor(T)
    expected = torch.tensor(expected, dtype=torch.float64)
    assert_close(fn(x, t, reduction="none", **kw), expected)
    assert_close(fn(x, t, reduction="sum", **kw), expected.sum())
    assert_close(fn(x, t, **kw), expected.mean())


# d loss / d log p_t for losses that depend on p_t only; grad wrt logits = that * (onehot - p)
def _dlogpt(name, p, g):
    lp = torch.log(p)
    return {
        "ce": -torch.ones_like(p),
        "focal": -((1 - p) ** g) + g * (1 - p) ** (g - 1) * p * lp,
        "focal-detached": -((1 - p) ** g),
        "blurry-detached": -(p**g),
        "blurry-literal": -(p**g) * (1 + g * lp),
        "gce": -(p**g),
        "mae": -2 * p,
        "sce": -0.1 + 1.0 * -4.0 * p,
    }[name]


@pytest.mark.parametrize(
    ("name", "fn", "kw", "g"),
    [
        ("ce", L.cross_entropy, {}, 0.0),
        ("focal", L.focal_loss, {"gamma": 2.0}, 2.0),
        ("focal", L.focal_loss, {"gamma": 0.3}, 0.3),
        ("focal-detached", L.focal_loss, {"gamma": 0.3, "detach_weight": True}, 0.3),
        ("blurry-detached", L.blurry_loss, {"gamma": 0.4}, 0.4),
        ("blurry-literal", L.blurry_loss, {"gamma": 0.4, "detach_weight": False}, 0.4),
        ("gce", L.generalized_cross_entropy, {"q": 0.7}, 0.7),
        ("mae", L.mean_absolute_error, {}, 0.0),
        ("sce", L.symmetric_cross_entropy, {}, 0.0),
    ],
)
def test_analytic_gradients(name, fn, kw, g):
    x, t = _data(n=24, c=6, scale=2.0)
    _, grad = _grad(fn, x, t, reduction="sum", **kw)
    p_t = torch.softmax(x, dim=1).gather(1, t[:, None]).squeeze(1)
    expected = -_dlogpt(name, p_t, g)[:, None] * _ce_per_sample_grad(x, t)
    assert_close(grad, expected)


@pytest.mark.parametrize("gamma", [0.1, 0.3, 0.4, 0.7, 1.0])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_blurry_detached_gradient_equals_gce(gamma, dtype):
    x, t = _data(n=64, c=10, scale=3.0, dtype=dtype)
    for reduction in ("mean", "sum"):
        _, g_blurry = _grad(L.blurry_loss, x, t, gamma=gamma, reduction=reduction)
        _, g_gce = _grad(L.generalized_cross_entropy, x, t, q=gamma, reduction=reduction)
        assert_close(g_blurry, g_gce)
    # p^g (softmax - onehot), stated in the docstring
    _, g = _grad(L.blurry_loss, x, t, gamma=gamma, reduction="sum")
    p_t = torch.softmax(x, dim=1).gather(1, t[:, None])
    assert_close(g, p_t**gamma * _ce_per_sample_grad(x, t))
    # ... and the values differ: only the gradient is shared
    assert not torch.allclose(
        L.blurry_loss(x, t, gamma=gamma), L.generalized_cross_entropy(x, t, q=gamma)
    )


def test_blurry_literal_gradient_changes_sign_below_exp_minus_one_over_gamma():
    gamma = 0.5
    threshold = math.exp(-1 / gamma)  # 0.135
    p = torch.tensor([0.05, 0.1, 0.2, 0.6], dtype=torch.float64)
    x = torch.stack([p.log(), (1 - p).log()], dim=1)  # two classes, target 0
    t = torch.zeros(4, dtype=torch.long)
    _, g_literal = _grad(L.blurry_loss, x, t, gamma=gamma, detach_weight=False, reduction="sum")
    _, g_detached = _grad(L.blurry_loss, x, t, gamma=gamma, reduction="sum")
    # the detached loss always raises the target logit (negative gradient) ...
    assert (g_detached[:, 0] < 0).all()
    # ... the literal one lowers it below the threshold
    assert ((g_literal[:, 0] > 0) == (p < threshold)).all()
    # values are the same whichever backward is used
    assert_close(
        L.blurry_loss(x, t, gamma=gamma, reduction="none"),
        L.blurry_loss(x, t, gamma=gamma, detach_weight=False, reduction="none"),
    )


@pytest.mark.parametrize("cutoff", [0.05, 0.2, 0.5])
def test_piecewise_zero_gradient_rows(cutoff):
    x, t = _data(n=200, c=5, scale=3.0, dtype=torch.float32)
    p_t = torch.softmax(x.double(), dim=1).gather(1, t[:, None]).squeeze(1)
    below = p_t <= cutoff
    assert below.any() and (~below).any()
    _, grad = _grad(L.piecewise_zero_loss, x, t, cutoff=cutoff, reduction="sum")
    assert torch.equal(grad[below], torch.zeros_like(grad[below]))  # exactly zero
    _, grad_ce = _grad(F.cross_entropy, x, t, reduction="sum")
    assert_close(grad[~below], grad_ce[~below], rtol=0, atol=0)  # exactly CE's
    values = L.piecewise_zero_loss(x, t, cutoff=cutoff, reduction="none")
    assert torch.equal(values[below], torch.zeros_like(values[below]))
    assert_close(values[~below], F.cross_entropy(x, t, reduction="none")[~below], rtol=0, atol=0)


# --------------------------------------------------------------------------------------
# gradcheck in float64
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fn", "kw"),
    [
        (L.cross_entropy, {}),
        (L.focal_loss, {"gamma": 2.0}),
        (L.focal_loss, {"gamma": 0.5}),
        (L.blurry_loss, {"gamma": 0.4, "detach_weight": False}),
        (L.blurry_loss, {"gamma": 2.0, "detach_weight": False}),
        (L.piecewise_zero_loss, {"cutoff": 0.15}),
        (L.generalized_cross_entropy, {"q": 0.7}),
        (L.mean_absolute_error, {}),
        (L.symmetric_cross_entropy, {}),
        (L.nce_rce, {}),
        (L.nce_rce, {"alpha": 0.3, "beta": 2.0, "log_zero": -7.0}),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_gradcheck(fn, kw, reduction):
    # Detached weights (blurry's default, focal's option) are deliberately not the gradient
    # of the value: test_analytic_gradients and the GCE equality cover them.
    x, t = _data(n=12, c=4, scale=2.0, seed=3)
    if "cutoff" in kw:  # keep the piecewise loss away from its kink
        p_t = torch.softmax(x, dim=1).gather(1, t[:, None]).squeeze(1)
        assert ((p_t - kw["cutoff"]).abs() > 1e-3).all()
        assert (p_t <= kw["cutoff"]).any() and (p_t > kw["cutoff"]).any()
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: fn(z, t, reduction=reduction, **kw), (x,))


# --------------------------------------------------------------------------------------
# Reductions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_reduction_consistency(name):
    fn, kw = FUNCTIONALS[name]
    x, t = _data(n=40, c=6, scale=3.0)
    none = fn(x, t, reduction="none", **kw)
    assert none.shape == (40,)
    assert_close(fn(x, t, reduction="sum", **kw), none.sum())
    assert_close(fn(x, t, **kw), none.mean())
    assert_close(fn(x, t, reduction="mean", **kw), none.mean())
    _, g_sum = _grad(fn, x, t, reduction="sum", **kw)
    _, g_mean = _grad(fn, x, t, reduction="mean", **kw)
    assert_close(g_mean * 40, g_sum)


# --------------------------------------------------------------------------------------
# Hypothesis properties
# --------------------------------------------------------------------------------------

logits_st = st.integers(1, 12).flatmap(
    lambda n: st.integers(2, 8).flatmap(
        lambda c: st.tuples(
            hnp.arrays("float64", (n, c), elements=st.floats(-30, 30)),
            hnp.arrays("int64", (n,), elements=st.integers(0, c - 1)),
        )
    )
)


def _tensors(data):
    x, t = data
    return torch.from_numpy(x), torch.from_numpy(t)


@given(data=logits_st, gamma=st.floats(0.0, 5.0))
def test_property_blurry_between_zero_and_ce(data, gamma):
    x, t = _tensors(data)
    ce = L.cross_entropy(x, t, reduction="none")
    for detach in (True, False):
        bl = L.blurry_loss(x, t, gamma=gamma, detach_weight=detach, reduction="none")
        assert (bl >= 0).all()
        assert (bl <= ce).all()
        if gamma > 0:  # maximum 1 / (e gamma) at p_t = exp(-1/gamma)
            assert (bl <= 1 / (math.e * gamma) * (1 + 1e-12)).all()


@given(data=logits_st, gamma=st.floats(0.0, 5.0))
def test_property_focal_between_zero_and_ce(data, gamma):
    x, t = _tensors(data)
    ce = L.cross_entropy(x, t, reduction="none")
    fl = L.focal_loss(x, t, gamma=gamma, reduction="none")
    assert (fl >= 0).all()
    assert (fl <= ce).all()


@given(data=logits_st, cutoff=st.floats(0.0, 0.99))
def test_property_pz_is_zero_or_ce(data, cutoff):
    x, t = _tensors(data)
    ce = L.cross_entropy(x, t, reduction="none")
    pz = L.piecewise_zero_loss(x, t, cutoff=cutoff, reduction="none")
    assert ((pz == 0) | (pz == ce)).all()
    log_pt = torch.log_softmax(x, dim=1).gather(1, t[:, None]).squeeze(1)
    if cutoff > 0:
        assert (pz[log_pt > math.log(cutoff)] == ce[log_pt > math.log(cutoff)]).all()
        assert (pz[log_pt <= math.log(cutoff)] == 0).all()


@given(data=logits_st, q=st.floats(1e-3, 1.0))
def test_property_gce_bounded(data, q):
    x, t = _tensors(data)
    gce = L.generalized_cross_entropy(x, t, q=q, reduction="none")
    assert (gce >= 0).all()
    assert (gce <= 1 / q * (1 + 1e-12)).all()
    assert (gce <= L.cross_entropy(x, t, reduction="none") * (1 + 1e-12)).all()


@given(data=logits_st)
def test_property_mae_sce_nce_bounded(data):
    x, t = _tensors(data)
    mae = L.mean_absolute_error(x, t, reduction="none")
    assert ((mae >= 0) & (mae <= 2)).all()
    rce = L.symmetric_cross_entropy(x, t, alpha=0.0, beta=1.0, reduction="none")
    assert ((rce >= 0) & (rce <= 4)).all()
    assert_close(rce, 2 * mae)  # -A (1 - p_t) with A = -4 is 2 * MAE
    nce = L.nce_rce(x, t, alpha=1.0, beta=0.0, reduction="none")
    assert ((nce >= 0) & (nce <= 1)).all()


@given(data=logits_st, gamma=st.floats(0.01, 1.0))
def test_property_blurry_detached_gradient_is_gce(data, gamma):
    x, t = _tensors(data)
    _, g_bl = _grad(L.blurry_loss, x, t, gamma=gamma)
    _, g_gce = _grad(L.generalized_cross_entropy, x, t, q=gamma)
    assert_close(g_bl, g_gce)


# --------------------------------------------------------------------------------------
# Extreme logits, empty batches, dtypes, devices
# --------------------------------------------------------------------------------------


def _extreme_logits(dtype):
    big = 1e4
    rows = [
        [big, -big, -big, 0.0],  # p_0 = 1 exactly, p_1 underflows to 0
        [big, big, -big, -big],  # p = 0.5
        [-big, big, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
    # p_t -> 1 at every scale, where (1 - p_t)^gamma has an infinite derivative for gamma < 1
    rows += [[gap, 0.0, 0.0, 0.0] for gap in (5, 10, 15, 17, 20, 30, 50, 100, 1e3, 1e4)]
    gen = torch.Generator().manual_seed(7)
    rows += (torch.sign(torch.randn(6, 4, generator=gen)) * big).tolist()
    x = torch.tensor(rows, dtype=torch.float64).to(dtype)
    n = x.shape[0]
    targets = [torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)]
    return x, targets


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gamma", [0.1, 0.5, 1.0, 2.0])
@pytest.mark.parametrize(
    "make",
    [
        lambda g: (L.focal_loss, {"gamma": g}),
        lambda g: (L.focal_loss, {"gamma": g, "detach_weight": True}),
        lambda g: (L.blurry_loss, {"gamma": g}),
        lambda g: (L.blurry_loss, {"gamma": g, "detach_weight": False}),
        lambda g: (L.generalized_cross_entropy, {"q": min(g, 1.0)}),
        lambda g: (L.piecewise_zero_loss, {"cutoff": min(g, 0.9)}),
        lambda g: (L.cross_entropy, {}),
        lambda g: (L.mean_absolute_error, {}),
        lambda g: (L.symmetric_cross_entropy, {}),
        lambda g: (L.nce_rce, {"alpha": g}),
    ],
)
def test_extreme_logits_finite(make, gamma, dtype):
    fn, kw = make(gamma)
    x0, targets = _extreme_logits(dtype)
    for t in targets:
        for reduction in ("mean", "none"):
            x = x0.clone().requires_grad_(True)
            loss = fn(x, t, reduction=reduction, **kw)
            assert torch.isfinite(loss).all(), (reduction, loss)
            loss.sum().backward()
            assert x.grad.dtype == dtype
            assert torch.isfinite(x.grad).all(), x.grad


def test_extreme_logits_trap_is_real():
    """The naive formulas fail on the inputs above, so the test above can fail."""
    x0, _ = _extreme_logits(torch.float32)
    x = x0.clone().requires_grad_(True)
    p_t = torch.softmax(x, dim=1)[:, 0]
    naive_focal = (-((1 - p_t) ** 0.5) * torch.log(p_t)).sum()
    naive_focal.backward()
    assert not torch.isfinite(x.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nce_denominator_stays_negative(dtype):
    # Tied or huge logits, where a sum of rounded log-probabilities could reach 0 (0/0).
    x = torch.tensor(
        [[1e8, 1e8, 1e8], [1e30, 1e30, 0.0], [1e30, 0.0, -1e30], [3e38, -3e38, 0.0]], dtype=dtype
    ).requires_grad_(True)
    t = torch.tensor([0, 1, 0, 0])
    nce = L.nce_rce(x, t, beta=0.0, reduction="none")
    assert torch.isfinite(nce).all()
    assert_close(nce[0], torch.tensor(1 / 3))  # all classes tied: NCE = 1/C
    nce.sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", ALL)
def test_empty_batch(name):
    fn, kw = FUNCTIONALS[name]
    x = torch.zeros(0, 5, requires_grad=True)
    t = torch.zeros(0, dtype=torch.long)
    mean = fn(x, t, **kw)
    assert mean.shape == () and mean.item() == 0.0  # 0, not NaN
    mean.backward()
    assert x.grad.shape == (0, 5)
    assert fn(x, t, reduction="sum", **kw).item() == 0.0
    assert fn(x, t, reduction="none", **kw).shape == (0,)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("name", ALL)
def test_dtypes(name, dtype):
    fn, kw = FUNCTIONALS[name]
    x64, t = _data(n=32, c=6, scale=2.0, seed=5)
    x = x64.to(dtype)
    ref = fn(x.double(), t, reduction="none", **kw)  # the same (rounded) logits in float64
    x = x.requires_grad_(True)
    out = fn(x, t, reduction="none", **kw)
    expected_dtype = torch.float32 if dtype in (torch.float16, torch.bfloat16) else dtype
    assert out.dtype == expected_dtype
    tol = {torch.float64: 1e-12, torch.float32: 1e-5}.get(dtype, 1e-5)
    assert_close(out.double(), ref, rtol=tol, atol=tol)
    out.mean().backward()
    assert x.grad.dtype == dtype
    assert torch.isfinite(x.grad).all()


DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", ALL)
def test_devices(name, device):
    fn, kw = FUNCTIONALS[name]
    x, t = _data(n=16, c=5)
    ref = fn(x, t, reduction="none", **kw)
    xd = x.to(device).requires_grad_(True)
    out = fn(xd, t.to(device), reduction="none", **kw)
    assert out.device.type == device
    assert_close(out.cpu(), ref)
    out.sum().backward()
    assert xd.grad.device.type == device


def test_integer_target_dtypes_accepted():
    x, t = _data(n=10, c=4)
    for dtype in (torch.int32, torch.int16, torch.uint8):
        assert_close(L.cross_entropy(x, t.to(dtype)), L.cross_entropy(x, t))


# --------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------

X, TGT = _data(n=4, c=3)

BAD_HYPER = [
    (L.focal_loss, {"gamma": -1.0}, "gamma", "-1.0"),
    (L.focal_loss, {"gamma": float("nan")}, "gamma", "nan"),
    (L.focal_loss, {"gamma": "2"}, "gamma", "'2'"),
    (L.focal_loss, {"detach_weight": 1}, "detach_weight", "1"),
    (L.blurry_loss, {"gamma": -0.1}, "gamma", "-0.1"),
    (L.blurry_loss, {"gamma": float("inf")}, "gamma", "inf"),
    (L.blurry_loss, {"gamma": True}, "gamma", "True"),
    (L.blurry_loss, {"gamma": 0.4, "detach_weight": "no"}, "detach_weight", "'no'"),
    (L.piecewise_zero_loss, {"cutoff": -0.1}, "cutoff", "-0.1"),
    (L.piecewise_zero_loss, {"cutoff": 1.0}, "cutoff", "1.0"),
    (L.piecewise_zero_loss, {"cutoff": 1.5}, "cutoff", "1.5"),
    (L.generalized_cross_entropy, {"q": 0.0}, "q", "0.0"),
    (L.generalized_cross_entropy, {"q": 1.5}, "q", "1.5"),
    (L.generalized_cross_entropy, {"q": -0.5}, "q", "-0.5"),
    (L.symmetric_cross_entropy, {"alpha": -1.0}, "alpha", "-1.0"),
    (L.symmetric_cross_entropy, {"beta": -1.0}, "beta", "-1.0"),
    (L.symmetric_cross_entropy, {"log_zero": 0.0}, "log_zero", "0.0"),
    (L.nce_rce, {"log_zero": 2.0}, "log_zero", "2.0"),
    (L.nce_rce, {"alpha": float("nan")}, "alpha", "nan"),
]


@pytest.mark.parametrize(("fn", "kw", "arg", "got"), BAD_HYPER)
def test_bad_hyperparameters(fn, kw, arg, got):
    with pytest.raises(ValueError, match=rf"`{arg}`.*but got {got}"):
        fn(X, TGT, **kw)


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("reduction", ["avg", "MEAN", None, ""])
def test_bad_reduction(name, reduction):
    fn, kw = FUNCTIONALS[name]
    with pytest.raises(ValueError, match=r"`reduction`.*\('mean', 'sum', 'none'\).*but got"):
        fn(X, TGT, reduction=reduction, **kw)


BAD_TENSORS = [
    (X.tolist(), TGT, "input", "list"),
    (X, TGT.tolist(), "target", "list"),
    (X.long(), TGT, "input", "torch.int64"),
    (X[0], TGT, "input", r"\(3,\)"),
    (X[None], TGT, "input", r"\(1, 4, 3\)"),
    (X, TGT[:, None], "target", r"\(4, 1\)"),
    (X, TGT[:3], "target", r"\(3,\)"),
    (X, TGT.float(), "target", "torch.float32"),
    (X, TGT.bool(), "target", "torch.bool"),
    (X, torch.tensor([0, 1, 2, 3]), "target", r"\[0, 3\).*from 0 to 3"),
    (X, torch.tensor([0, -1, 2, 1]), "target", r"\[0, 3\).*from -1 to 2"),
    (X[:, :0], TGT, "input", r"\(4, 0\)"),
]


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize(("x", "t", "arg", "got"), BAD_TENSORS)
def test_bad_tensors(name, x, t, arg, got):
    fn, kw = FUNCTIONALS[name]
    with pytest.raises(ValueError, match=rf"`{arg}`.*{got}") as info:
        fn(x, t, **kw)
    assert "but got" in str(info.value)


def test_nce_needs_two_classes():
    with pytest.raises(ValueError, match=r"`input`.*at least 2.*\(4, 1\)"):
        L.nce_rce(X[:, :1], torch.zeros(4, dtype=torch.long))
    # every other loss accepts a single class (CE = 0)
    assert L.cross_entropy(X[:, :1], torch.zeros(4, dtype=torch.long)).item() == 0.0


@pytest.mark.parametrize(
    ("cls", "kw", "arg"),
    [
        (L.FocalLoss, {"gamma": -2.0}, "gamma"),
        (L.BlurryLoss, {"gamma": -0.4}, "gamma"),
        (L.BlurryLoss, {"gamma": 0.4, "detach_weight": None}, "detach_weight"),
        (L.PiecewiseZeroLoss, {"cutoff": 1.0}, "cutoff"),
        (L.GCELoss, {"q": 0.0}, "q"),
        (L.SCELoss, {"log_zero": 1.0}, "log_zero"),
        (L.NCERCELoss, {"beta": -1.0}, "beta"),
        (L.MAELoss, {"reduction": "avg"}, "reduction"),
        (L.CrossEntropyLoss, {"reduction": "elementwise_mean"}, "reduction"),
    ],
)
def test_modules_validate_in_init(cls, kw, arg):
    with pytest.raises(ValueError, match=rf"`{arg}`"):
        cls(**kw)


def test_modules_keyword_only():
    with pytest.raises(TypeError):
        L.BlurryLoss(0.4)  # type: ignore[misc]


# --------------------------------------------------------------------------------------
# validate_args: the target-value check (a device sync per call) can be switched off
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_validate_args_off_gives_identical_values_and_grads(name):
    fn, kw = FUNCTIONALS[name]
    x, t = _data(n=12, c=4, dtype=torch.float32)
    for reduction in ("mean", "sum"):
        checked = _grad(fn, x, t, reduction=reduction, **kw)
        unchecked = _grad(fn, x, t, reduction=reduction, validate_args=False, **kw)
        assert torch.equal(checked[0], unchecked[0])
        assert torch.equal(checked[1], unchecked[1])
    none = fn(x, t, reduction="none", validate_args=False, **kw)
    assert torch.equal(none, fn(x, t, reduction="none", **kw))


@pytest.mark.parametrize("name", L.LOSS_NAMES)
def test_validate_args_off_modules_identical(name):
    params, cls, _ = MAKE[name]
    x, t = _data(n=12, c=4, dtype=torch.float32)
    checked = _grad(L.make_loss(name, **params), x, t)
    off = L.make_loss(name, validate_args=False, **params)
    assert type(off) is cls and off.validate_args is False
    assert "validate_args=False" in repr(off)
    unchecked = _grad(off, x, t)
    assert torch.equal(checked[0], unchecked[0]) and torch.equal(checked[1], unchecked[1])


@pytest.fixture
def value_checks(monkeypatch):
    """Count calls of the per-call target-value check (``aminmax`` + ``int()``)."""
    from robustloss.losses import _validation

    calls = []
    original = _validation._check_target_values

    def counting(target, num_classes):
        calls.append(num_classes)
        return original(target, num_classes)

    monkeypatch.setattr(_validation, "_check_target_values", counting)
    return calls


@pytest.mark.parametrize("name", ALL)
def test_validate_args_default_checks_values_and_raises(name, value_checks):
    fn, kw = FUNCTIONALS[name]
    with pytest.raises(ValueError, match=r"`target`.*\[0, 3\).*from 0 to 3"):
        fn(X, torch.tensor([0, 1, 2, 3]), **kw)
    assert value_checks == [3]
    fn(X, TGT, validate_args=False, **kw)  # no value check ...
    assert value_checks == [3]
    with pytest.raises(ValueError, match=r"`target`.*torch.float32"):
        fn(X, TGT.float(), validate_args=False, **kw)  # ... but dtypes and shapes still


def test_validate_args_modules_and_schedule(value_checks):
    x, t = _data(n=8, c=3)
    L.BlurryLoss(gamma=0.4)(x, t)
    assert len(value_checks) == 1
    sched = L.ScheduledLoss(L.BlurryLoss(gamma=0.4, validate_args=False), delay=1)
    assert sched.warmup.validate_args is False  # the default warm-up follows `main`
    for epoch in (0, 1):
        sched.set_epoch(epoch)
        sched(x, t)
    assert len(value_checks) == 1
    with pytest.raises(ValueError, match="`validate_args`"):
        L.CrossEntropyLoss(validate_args="no")


# --------------------------------------------------------------------------------------
# Modules, make_loss, LOSS_PARAMS
# --------------------------------------------------------------------------------------

MAKE = {
    "ce": ({}, L.CrossEntropyLoss, L.cross_entropy),
    "focal": ({"gamma": 1.5, "detach_weight": True}, L.FocalLoss, L.focal_loss),
    "blurry": ({"gamma": 0.3}, L.BlurryLoss, L.blurry_loss),
    "pz": ({"cutoff": 0.1}, L.PiecewiseZeroLoss, L.piecewise_zero_loss),
    "gce": ({"q": 0.5}, L.GCELoss, L.generalized_cross_entropy),
    "mae": ({}, L.MAELoss, L.mean_absolute_error),
    "sce": ({"alpha": 0.2, "beta": 0.5, "log_zero": -3.0}, L.SCELoss, L.symmetric_cross_entropy),
    "nce+rce": ({"alpha": 2.0, "beta": 0.5, "log_zero": -5.0}, L.NCERCELoss, L.nce_rce),
}


def test_registry_is_complete():
    assert L.LOSS_NAMES == ("ce", "focal", "blurry", "pz", "gce", "mae", "sce", "nce+rce")
    assert set(L.LOSS_PARAMS) == set(L.LOSS_NAMES) == set(MAKE)
    for name, (params, _, _) in MAKE.items():
        assert set(params) <= set(L.LOSS_PARAMS[name])


@pytest.mark.parametrize("name", L.LOSS_NAMES)
def test_make_loss_every_name(name):
    params, cls, fn = MAKE[name]
    x, t = _data(n=10, c=4)
    for reduction in ("mean", "none"):
        module = L.make_loss(name, reduction=reduction, **params)
        assert type(module) is cls
        assert module.reduction == reduction
        assert_close(module(x, t), fn(x, t, reduction=reduction, **params))
    x.requires_grad_(True)
    L.make_loss(name, **params)(x, t).backward()
    assert x.grad is not None
    assert name in {"ce", "mae"} or "=" in repr(module)


def test_make_loss_defaults_and_none():
    assert L.make_loss("focal").gamma == 2.0
    assert L.make_loss("focal").detach_weight is False
    assert L.make_loss("blurry", gamma=0.4).detach_weight is True
    assert L.make_loss("gce").q == 0.7
    sce, nce = L.make_loss("sce"), L.make_loss("nce+rce")
    assert (sce.alpha, sce.beta, sce.log_zero) == (0.1, 1.0, -4.0)
    assert (nce.alpha, nce.beta, nce.log_zero) == (1.0, 1.0, -4.0)
    assert L.make_loss("gce", q=None).q == 0.7  # None = the loss's default


@pytest.mark.parametrize(
    ("name", "params", "pattern"),
    [
        ("cross-entropy", {}, r"`name`.*'ce'.*but got 'cross-entropy'"),
        ("Blurry", {"gamma": 0.4}, r"`name`.*but got 'Blurry'"),
        ("ce", {"gamma": 1.0}, r"'ce'.*\['gamma'\].*accepts \['reduction'\]"),
        ("pz", {"gamma": 1.0, "cutoff": 0.1}, r"'pz'.*\['gamma'\].*\['cutoff', 'reduction'\]"),
        ("blurry", {"cutoff": 0.1, "gamma": 0.4}, r"'blurry'.*\['cutoff'\].*'gamma'"),
        ("mae", {"gamma": None}, r"'mae'.*\['gamma'\]"),
        ("blurry", {}, r"'blurry' requires.*\['gamma'\]"),
        ("blurry", {"gamma": None}, r"'blurry' requires.*\['gamma'\]"),
        ("pz", {}, r"'pz' requires.*\['cutoff'\]"),
        ("pz", {"cutoff": 2.0}, r"`cutoff`.*but got 2.0"),
        ("gce", {"q": 0.0}, r"`q`"),
        ("sce", {"reduction": "avg"}, r"`reduction`"),
    ],
)
def test_make_loss_errors(name, params, pattern):
    with pytest.raises(ValueError, match=pattern):
        L.make_loss(name, **params)


# --------------------------------------------------------------------------------------
# ScheduledLoss
# --------------------------------------------------------------------------------------


def test_scheduled_loss_switches_at_delay():
    x, t = _data(n=30, c=5, scale=3.0)
    main = L.PiecewiseZeroLoss(cutoff=0.2)
    sched = L.ScheduledLoss(main, delay=3)
    ce = L.cross_entropy(x, t)
    pz = L.piecewise_zero_loss(x, t, cutoff=0.2)
    assert not torch.allclose(ce, pz)
    for epoch in range(6):
        sched.set_epoch(epoch)
        assert sched.in_warmup == (epoch < 3)
        assert_close(sched(x, t), ce if epoch < 3 else pz)
    sched.set_epoch(1)  # epochs can go back (e.g. a resumed run)
    assert sched.in_warmup


def test_scheduled_loss_delay_zero_is_main_from_epoch_zero():
    x, t = _data(n=30, c=5, scale=3.0)
    sched = L.ScheduledLoss(L.BlurryLoss(gamma=0.4), delay=0)
    assert not sched.in_warmup  # before any set_epoch: epoch 0
    assert_close(sched(x, t), L.blurry_loss(x, t, gamma=0.4))
    sched.set_epoch(0)
    assert not sched.in_warmup


def test_scheduled_loss_custom_warmup_and_reduction():
    x, t = _data(n=30, c=5)
    sched = L.ScheduledLoss(L.GCELoss(reduction="sum"), delay=2)
    assert_close(sched(x, t), L.cross_entropy(x, t, reduction="sum"))  # warm-up follows main
    sched = L.ScheduledLoss(L.GCELoss(), delay=2, warmup=L.MAELoss())
    assert_close(sched(x, t), L.mean_absolute_error(x, t))
    assert set(dict(sched.named_children())) == {"main", "warmup"}
    xg = x.clone().requires_grad_(True)
    sched(xg, t).backward()
    assert xg.grad is not None


@pytest.mark.parametrize("delay", [-1, 1.5, True, "2", None])
def test_scheduled_loss_bad_delay(delay):
    with pytest.raises(ValueError, match=r"`delay`.*int >= 0.*but got"):
        L.ScheduledLoss(L.CrossEntropyLoss(), delay=delay)


@pytest.mark.parametrize("epoch", [-1, 0.5, None])
def test_scheduled_loss_bad_epoch(epoch):
    sched = L.ScheduledLoss(L.CrossEntropyLoss(), delay=1)
    with pytest.raises(ValueError, match=r"`epoch`.*but got"):
        sched.set_epoch(epoch)


def test_scheduled_loss_bad_modules():
    with pytest.raises(ValueError, match="`main`"):
        L.ScheduledLoss("ce", delay=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`warmup`"):
        L.ScheduledLoss(L.CrossEntropyLoss(), delay=0, warmup=3)  # type: ignore[arg-type]
