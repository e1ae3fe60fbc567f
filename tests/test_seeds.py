"""robustloss.seeds: one table of stream ids, no two purposes on one id but the documented
pair, and the modules that draw from a stream using the table's id."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from robustloss import seeds
from robustloss.run import detectors, trainset
from robustloss.seeds import AUM_STREAM, SHARED_IDS, STREAMS, SUBSET_STREAM, derive_seed

SRC = Path(seeds.__file__).resolve().parent


def test_every_id_is_distinct_but_the_documented_pair():
    counts = Counter(stream.id for stream in STREAMS.values())
    shared = {i: tuple(n for n, s in STREAMS.items() if s.id == i) for i, c in counts.items()
              if c > 1}  # fmt: skip
    assert shared == dict(SHARED_IDS) == {1: ("permutation", "split")}
    others = [s.id for n, s in STREAMS.items() if n not in SHARED_IDS[1]]
    assert len(others) == len(set(others)) and 1 not in others


def test_the_table_keeps_the_ids_of_the_committed_evidence():
    """Permutation and split stay 1, and every stream the evidence drew from keeps its id;
    AUM and the overfit subsets moved off the subset's 3."""
    ids = {name: s.id for name, s in STREAMS.items()}
    assert ids == {
        "permutation": 1, "split": 1, "fold": 2, "subset": 3, "holdout": 4, "aum": 5,
        "overfit-subset": 6, "search-subset": 9, "probe": 10, "canary": 11,
    }  # fmt: skip
    assert (seeds.PERMUTATION_STREAM, seeds.SPLIT_STREAM, seeds.FOLD_STREAM) == (1, 1, 2)


def test_derive_seed_is_the_seed_sequence_it_always_was():
    state = np.random.SeedSequence([7, 2, 3]).generate_state(1)
    assert derive_seed(7, 2, 3) == int(state[0] & 0x7FFFFFFF)
    assert 0 <= derive_seed(2**40, 5) < 2**31


def test_aum_and_the_subset_draw_different_seeds(monkeypatch):
    """The collision fixed: the subset of a run and AUM's threshold samples of the same run
    seed were both drawn from derive_seed(seed, 3)."""
    drawn: dict[str, list[int]] = {"subset": [], "aum": []}

    def recorder(name, real):
        def record(base, *keys):
            value = real(base, *keys)
            drawn[name].append(value)
            return value

        return record

    monkeypatch.setattr(trainset, "derive_seed", recorder("subset", trainset.derive_seed))
    monkeypatch.setattr(detectors, "derive_seed", recorder("aum", detectors.derive_seed))
    labels = np.repeat(np.arange(3), 20)

    def no_training(config, images, labels, **kwargs):  # margins of zeros, nothing trained
        return SimpleNamespace(margins=SimpleNamespace(mean=np.zeros(labels.size)))

    for seed in range(5):
        trainset._stratified_subset(labels, 30, seed)
        config = detectors.TrainConfig(seed=seed, epochs=1, model="tiny", device="cpu")
        detectors.aum_threshold_run(
            np.zeros((labels.size, 8, 8), np.uint8), labels, config, num_classes=3, seed=seed,
            train_fn=no_training,
        )  # fmt: skip
    subset, aum = drawn["subset"], drawn["aum"]
    assert len(subset) == 5 and len(aum) == 10  # the samples' rng and the model's seed
    assert not set(subset) & set(aum)
    assert AUM_STREAM != SUBSET_STREAM


def test_no_stream_id_is_written_as_a_number_outside_the_table():
    """Every SeedSequence / derive_seed / default_rng([seed, id]) in the package names its id
    (a constant imported from robustloss.seeds), not a literal."""
    literal = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "seeds.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            args: list[ast.expr] = []
            if name == "derive_seed":  # the stream id; sub-keys (a fold's k) may be numbers
                args = node.args[1:2]
            elif name in ("SeedSequence", "default_rng") and node.args:
                first = node.args[0]
                args = first.elts[1:2] if isinstance(first, ast.List) else []
            literal += [f"{path.relative_to(SRC)}:{node.lineno}" for a in args
                        if isinstance(a, ast.Constant)]  # fmt: skip
    assert not literal, literal
