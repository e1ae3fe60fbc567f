"""Label corruption: exact counts, never the same class, uniform destinations, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from robustloss.noise import NOISE_KINDS, corrupt_labels, noise_transition_matrix


def _balanced(n_per_class: int, k: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).permutation(np.repeat(np.arange(k), n_per_class))


def test_kinds():
    assert NOISE_KINDS == ("symmetric", "bernoulli", "pair", "matrix")


@pytest.mark.parametrize(
    ("n", "rate"), [(1000, 0.2), (1000, 0.1), (999, 0.3333), (7, 0.5), (60000, 0.2)]
)
def test_symmetric_exact_count_and_always_a_different_class(n, rate):
    labels = np.arange(n) % 10
    noisy, mask = corrupt_labels(labels, rate, rng=1)
    assert noisy.dtype == np.int64 and mask.dtype == bool
    assert noisy.shape == mask.shape == (n,)
    assert mask.sum() == round(rate * n)
    np.testing.assert_array_equal(mask, noisy != labels)
    np.testing.assert_array_equal(noisy[~mask], labels[~mask])
    assert noisy.min() >= 0 and noisy.max() < 10


def test_symmetric_rate_zero_and_one():
    labels = _balanced(10, 4)
    noisy, mask = corrupt_labels(labels, 0.0, rng=0)
    np.testing.assert_array_equal(noisy, labels)
    assert not mask.any()
    noisy, mask = corrupt_labels(labels, 1.0, rng=0)
    assert mask.all() and np.all(noisy != labels)


def test_symmetric_destinations_uniform_over_other_classes():
    # Every true class, its destinations must be uniform over the K - 1 others: chi-square.
    k = 5
    labels = _balanced(4000, k)
    noisy, mask = corrupt_labels(labels, 0.5, rng=123)
    for i in range(k):
        dest = noisy[mask & (labels == i)]
        counts = np.bincount(dest, minlength=k)
        assert counts[i] == 0
        others = np.delete(counts, i)
        p = stats.chisquare(others).pvalue
        assert p > 1e-3, (i, others, p)


def test_symmetric_chosen_samples_uniform_over_positions():
    # The corrupted positions are uniform: per-decile counts of 10,000 draws pass chi-square.
    labels = np.zeros(1000, dtype=np.int64)
    labels[1::2] = 1
    hits = np.zeros(1000)
    rng = np.random.default_rng(7)
    for _ in range(100):
        _, mask = corrupt_labels(labels, 0.1, rng=rng)
        hits += mask
    p = stats.chisquare(hits.reshape(10, 100).sum(axis=1)).pvalue
    assert p > 1e-3


def test_chi_square_catches_a_biased_destination():
    # the uniformity check above can fail: a destination rule k -> k + 1 is rejected by it
    k = 5
    labels = _balanced(4000, k)
    noisy, mask = corrupt_labels(labels, 0.5, kind="pair", rng=123)
    others = np.delete(np.bincount(noisy[mask & (labels == 0)], minlength=k), 0)
    assert stats.chisquare(others).pvalue < 1e-6


@pytest.mark.parametrize("kind", ["symmetric", "bernoulli", "pair"])
def test_deterministic_per_seed_and_generator(kind):
    labels = _balanced(100, 10)
    a = corrupt_labels(labels, 0.3, kind=kind, rng=42)
    b = corrupt_labels(labels, 0.3, kind=kind, rng=42)
    c = corrupt_labels(labels, 0.3, kind=kind, rng=np.random.default_rng(42))
    d = corrupt_labels(labels, 0.3, kind=kind, rng=43)
    for x, y in ((a, b), (a, c)):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_array_equal(x[1], y[1])
    assert not np.array_equal(a[0], d[0])


def test_does_not_touch_global_numpy_state():
    labels = _balanced(100, 10)
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    corrupt_labels(labels, 0.3, rng=1)
    assert np.random.random() == expected


def test_generator_advances_so_two_calls_differ():
    labels = _balanced(100, 10)
    rng = np.random.default_rng(0)
    a, _ = corrupt_labels(labels, 0.3, rng=rng)
    b, _ = corrupt_labels(labels, 0.3, rng=rng)
    assert not np.array_equal(a, b)


@pytest.mark.parametrize("kind", NOISE_KINDS)
def test_input_never_modified(kind):
    labels = _balanced(50, 4)
    before = labels.copy()
    t = noise_transition_matrix("symmetric", 0.4, 4)
    rate, transition = (None, t) if kind == "matrix" else (0.4, None)
    noisy, _ = corrupt_labels(labels, rate, kind=kind, transition=transition, rng=0)
    np.testing.assert_array_equal(labels, before)
    assert not np.shares_memory(noisy, labels)


def test_accepts_lists_and_other_integer_dtypes():
    noisy, mask = corrupt_labels([0, 1, 2, 3] * 5, 0.5, rng=0)
    assert noisy.dtype == np.int64 and mask.sum() == 10
    noisy, mask = corrupt_labels(np.arange(20, dtype=np.uint8) % 4, 0.5, rng=0)
    assert mask.sum() == 10


def test_bernoulli_count_is_binomial():
    labels = _balanced(2000, 10)  # N = 20,000
    counts = [corrupt_labels(labels, 0.2, kind="bernoulli", rng=s)[1].sum() for s in range(30)]
    assert len(set(counts)) > 1  # not an exact count
    mean, sd = 0.2 * 20000, np.sqrt(20000 * 0.2 * 0.8)
    assert abs(np.mean(counts) - mean) < 4 * sd / np.sqrt(30)
    noisy, mask = corrupt_labels(labels, 0.2, kind="bernoulli", rng=0)
    np.testing.assert_array_equal(mask, noisy != labels)


def test_pair_maps_k_to_k_plus_one():
    k = 4
    labels = _balanced(25, k)
    noisy, mask = corrupt_labels(labels, 0.3, kind="pair", rng=5)
    assert mask.sum() == 30
    np.testing.assert_array_equal(noisy[mask], (labels[mask] + 1) % k)
    assert set(labels[mask] % k) <= set(range(k))


def test_pair_with_num_classes_larger_than_seen():
    labels = np.array([0, 1, 2] * 10)
    noisy, _ = corrupt_labels(labels, 1.0, kind="pair", num_classes=5, rng=0)
    np.testing.assert_array_equal(noisy, labels + 1)


def test_matrix_exact_per_class_counts_and_largest_remainder():
    k = 3
    labels = np.repeat(np.arange(k), [100, 50, 7])
    t = np.array(
        [
            [0.7, 0.2, 0.1],  # 30 change: 20 -> 1, 10 -> 2
            [0.5, 0.5, 0.0],  # 25 change, all -> 0
            [0.3, 0.4, 0.3],  # round(7 * 0.7) = 5 change: quotas 5*3/7=2.14, 5*4/7=2.86 -> 2, 3
        ]
    )
    noisy, mask = corrupt_labels(labels, None, kind="matrix", transition=t, rng=0)
    np.testing.assert_array_equal(mask, noisy != labels)
    confusion = np.zeros((k, k), dtype=int)
    np.add.at(confusion, (labels, noisy), 1)
    np.testing.assert_array_equal(confusion, [[70, 20, 10], [25, 25, 0], [2, 3, 2]])


def test_matrix_identity_changes_nothing_and_num_classes_from_t():
    labels = np.array([0, 1, 0, 1])
    noisy, mask = corrupt_labels(labels, None, kind="matrix", transition=np.eye(3), rng=0)
    np.testing.assert_array_equal(noisy, labels)
    assert not mask.any()


def test_matrix_chosen_uniformly_within_class():
    labels = np.zeros(100, dtype=np.int64)
    labels[50:] = 1
    t = np.array([[0.9, 0.1], [0.1, 0.9]])
    hits = np.zeros(100)
    for seed in range(400):
        hits += corrupt_labels(labels, None, kind="matrix", transition=t, rng=seed)[1]
    np.testing.assert_array_equal(hits.reshape(2, 50).sum(axis=1), [2000, 2000])
    assert stats.chisquare(hits[:50]).pvalue > 1e-3


def test_transition_matrices():
    t = noise_transition_matrix("symmetric", 0.2, 5)
    np.testing.assert_allclose(t.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.diag(t), 0.8)
    np.testing.assert_allclose(t[0, 1:], 0.05)
    p = noise_transition_matrix("pair", 0.2, 3)
    np.testing.assert_allclose(p, [[0.8, 0.2, 0], [0, 0.8, 0.2], [0.2, 0, 0.8]])
    with pytest.raises(ValueError, match="matrix"):
        noise_transition_matrix("matrix", 0.2, 3)
    with pytest.raises(ValueError, match="at least 2, got 1"):
        noise_transition_matrix("pair", 0.2, 1)


def test_symmetric_matches_its_transition_matrix_in_expectation():
    k = 4
    labels = _balanced(5000, k)
    noisy, _ = corrupt_labels(labels, 0.3, rng=9)
    confusion = np.zeros((k, k))
    np.add.at(confusion, (labels, noisy), 1)
    np.testing.assert_allclose(
        confusion / 5000, noise_transition_matrix("symmetric", 0.3, k), atol=0.02
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate": 1.5}, r"rate must be a number in \[0, 1\], got 1.5"),
        ({"rate": -0.1}, r"got -0.1"),
        ({"rate": float("nan")}, "got nan"),
        ({"rate": None}, "got None"),
        ({"rate": True}, "got True"),
        ({"rate": "0.2"}, "got '0.2'"),
        (
            {"rate": 0.2, "kind": "flip"},
            "kind must be one of symmetric, bernoulli, pair, matrix, got 'flip'",
        ),
        (
            {"rate": 0.2, "num_classes": 3},
            r"labels must be in \[0, 3\) for num_classes=3, got minimum 0 and maximum 4",
        ),
        ({"rate": 0.2, "num_classes": 1}, "at least 2, got 1"),
        ({"rate": 0.2, "rng": -1}, "rng must be"),
        ({"rate": 0.2, "rng": 1.5}, "got 1.5"),
        ({"rate": 0.2, "transition": np.eye(5)}, "transition is only for kind='matrix'"),
        (
            {"rate": 0.2, "kind": "matrix", "transition": np.eye(5)},
            "rate must be None for kind='matrix'",
        ),
        ({"rate": None, "kind": "matrix"}, "needs transition"),
        (
            {"rate": None, "kind": "matrix", "transition": np.ones((5, 4)) / 4},
            r"got shape \(5, 4\)",
        ),
        (
            {"rate": None, "kind": "matrix", "transition": np.full((5, 5), 0.3)},
            "row 0 sums to 1.5 .5 bad row",
        ),
        (
            {"rate": None, "kind": "matrix", "transition": np.eye(5) * 2 - 0.2},
            "non-negative, got minimum -0.2",
        ),
        ({"rate": None, "kind": "matrix", "transition": np.eye(4)}, r"labels must be in \[0, 4\)"),
        (
            {"rate": None, "kind": "matrix", "transition": np.eye(5), "num_classes": 6},
            r"\(5, 5\) but num_classes=6",
        ),
    ],
)
def test_bad_inputs_give_value_errors_with_numbers(kwargs, match):
    labels = np.arange(20) % 5
    rate = kwargs.pop("rate")
    with pytest.raises(ValueError, match=match):
        corrupt_labels(labels, rate, **kwargs)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.array([0.0, 1.0]), "labels must be integers, got dtype float64"),
        (np.zeros((2, 2), dtype=int), r"1-D \(N,\), got shape \(2, 2\)"),
        (np.array([0, -1, 2]), "got minimum -1"),
        (np.zeros(5, dtype=int), "cannot infer num_classes >= 2 from labels with maximum 0"),
    ],
)
def test_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        corrupt_labels(labels, 0.1)


def test_empty_labels_with_num_classes():
    noisy, mask = corrupt_labels(np.array([], dtype=np.int64), 0.5, num_classes=3, rng=0)
    assert noisy.shape == mask.shape == (0,)


@given(
    n=st.integers(0, 300),
    k=st.integers(2, 12),
    rate=st.floats(0, 1),
    kind=st.sampled_from(["symmetric", "pair", "bernoulli"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_properties(n, k, rate, kind, seed):
    labels = np.random.default_rng(seed).integers(0, k, size=n)
    noisy, mask = corrupt_labels(labels, rate, num_classes=k, kind=kind, rng=seed)
    np.testing.assert_array_equal(mask, noisy != labels)
    assert np.all((noisy >= 0) & (noisy < k))
    if kind != "bernoulli":
        assert mask.sum() == round(rate * n)
    if kind == "pair":
        np.testing.assert_array_equal(noisy[mask], (labels[mask] + 1) % k)
    again, _ = corrupt_labels(labels, rate, num_classes=k, kind=kind, rng=seed)
    np.testing.assert_array_equal(noisy, again)


@given(
    counts=st.lists(st.integers(0, 60), min_size=2, max_size=6),
    data=st.data(),
    seed=st.integers(0, 2**32 - 1),
)
def test_matrix_property_exact_per_class(counts, data, seed):
    k = len(counts)
    raw = np.array(
        data.draw(
            st.lists(st.lists(st.floats(0, 1), min_size=k, max_size=k), min_size=k, max_size=k)
        )
    )
    raw[np.arange(k), np.arange(k)] += 1e-3  # no all-zero row
    t = raw / raw.sum(axis=1, keepdims=True)
    labels = np.random.default_rng(seed).permutation(np.repeat(np.arange(k), counts))
    noisy, mask = corrupt_labels(labels, None, kind="matrix", transition=t, rng=seed)
    np.testing.assert_array_equal(mask, noisy != labels)
    for i, n_i in enumerate(counts):
        changed = noisy[labels == i]
        changed = changed[changed != i]
        assert len(changed) == round(n_i * (1 - t[i, i]))
        dest = np.bincount(changed, minlength=k)
        # largest remainder: each destination within 1 of its exact quota, none where T is 0
        off = t[i].copy()
        off[i] = 0
        if off.sum() > 0 and len(changed):
            quota = len(changed) * off / off.sum()
            assert np.all(np.abs(dest - quota) < 1)
            assert np.all(dest[off == 0] == 0)
