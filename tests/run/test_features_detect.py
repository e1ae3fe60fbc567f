"""``robustloss detect --features`` / ``--pred-probs``, end to end on small generated data:
run folders, class names, bad input leaving no folder, hashes; and the retired embed-cv."""

from __future__ import annotations

import ast
import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import robustloss.cli as cli
from features_fakes import NAMES, write_pair
from robustloss.detect import score_detections
from robustloss.models.images import ImageClassifier, InputScaling, make_model
from robustloss.probs import protocols
from robustloss.probs.features import embeddings
from robustloss.probs.protocols import predicted_probabilities
from robustloss.run.config import (
    PROTOCOLS,
    RETIRED_PROTOCOLS,
    SOURCE_FIELDS,
    RunConfig,
    config_hash,
)
from robustloss.run.pipeline import detect_features, detect_pred_probs
from robustloss.sweeps.spec import parse_spec
from robustloss.train import TrainConfig
from synthetic import synthetic_images

FAST = {"epochs": 5, "batch_size": 64, "lr": 1e-2, "threads": 1}


@pytest.fixture(autouse=True)
def _register_run(monkeypatch):
    modules = tuple(dict.fromkeys((*cli.COMMAND_MODULES, "robustloss.cli.run")))
    monkeypatch.setattr(cli, "COMMAND_MODULES", modules)


def _flagged(run_dir) -> np.ndarray:
    with (run_dir / "detections.csv").open(newline="") as f:
        return np.array([int(r["index"]) for r in csv.DictReader(f) if r["flagged"] == "1"])


@pytest.mark.parametrize("protocol", ["in-sample", "cv"])
@pytest.mark.parametrize("head", ["linear", "mlp"])
def test_detect_features_finds_the_flips(tmp_path, protocol, head):
    features, labels, flipped = write_pair(tmp_path)
    config = {"loss": "blurry", "gamma": 0.4, "protocol": protocol, "head": head, **FAST}
    out = tmp_path / "run"
    summary = detect_features(features, labels, config, out, quiet=True)
    assert summary.class_names == list(NAMES) and summary.protocol == protocol
    assert set(summary.estimated_errors_per_class) == set(NAMES)
    scores = score_detections(_flagged(out), flipped)
    assert scores["f1"] > 0.7, scores
    with (out / "detections.csv").open(newline="") as f:
        row = next(csv.DictReader(f))
    assert row["given_class"] in NAMES and row["suggested_class"] in NAMES
    assert ("fold" in row) == (protocol == "cv")
    probs = np.load(out / "pred_probs.npy")
    assert probs.shape == (600, 4)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-12)
    meta = json.loads((out / "config.json").read_text())
    assert meta["train_config"]["head"] == head and meta["config"]["features"] == str(features)


def test_detect_features_is_reproducible_and_subsets(tmp_path):
    features, labels, _ = write_pair(tmp_path, names=False)
    config = {"protocol": "cv", "folds": 3, "subset": 300, **FAST}
    a = detect_features(features, labels, config, quiet=True)
    b = detect_features(features, labels, config, quiet=True)
    assert a.n == 300 and a.top_suspects == b.top_suspects
    assert a.class_names == ["0", "1", "2", "3"]


def test_detect_pred_probs_trains_nothing(tmp_path):
    features, labels, _flipped = write_pair(tmp_path)
    first = tmp_path / "first"
    detect_features(features, labels, {"protocol": "cv", **FAST}, first, quiet=True)
    out = tmp_path / "given"
    summary = detect_pred_probs(first / "pred_probs.npy", labels, None, out, quiet=True)
    assert summary.protocol == "pred-probs" and summary.history == []
    np.testing.assert_array_equal(_flagged(out), _flagged(first))
    assert summary.class_names == list(NAMES)


def test_cli_features_and_pred_probs(tmp_path, capsys):
    features, labels, _ = write_pair(tmp_path)
    out = tmp_path / "cli"
    code = cli.main(["detect", "--features", str(features), "--labels", str(labels),
                     "--epochs", "3", "--threads", "1", "--out", str(out), "--json",
                     "--quiet"])  # fmt: skip
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["protocol"] == "cv"
    assert summary["config"]["batch_size"] == 1024 and summary["config"]["loss"] == "blurry"
    assert (out / "report.html").is_file() and not (out / "suspect_images.npz").exists()
    out2 = tmp_path / "cli2"
    code = cli.main(["detect", "--pred-probs", str(out / "pred_probs.npy"), "--labels",
                     str(labels), "--out", str(out2), "--no-report"])  # fmt: skip
    text = capsys.readouterr().out
    assert code == 0 and "protocol pred-probs" in text and "ant:" in text
    assert (out2 / "detections.csv").is_file() and not (out2 / "report.html").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pred-probs", "P", "--labels", "L", "--loss", "ce"], "--pred-probs trains nothing"),
        (["--data", "D", "--protocol", "paper-cv", "--executor", "local"],
         "but --protocol paper-cv carries one model from fold to fold"),
        (["--features", "F", "--protocol", "paper-cv"], "with --features to be in-sample or cv"),
        (["--data", "D", "--head", "mlp"], "applies to --features runs, but got it with images"),
        (["--data", "D", "--labels", "L"], "goes with --features or --pred-probs"),
    ],
)
def test_cli_refuses_flags_that_do_not_apply(tmp_path, capsys, argv, message):
    assert cli.main(["detect", *argv, "--out", str(tmp_path / "x")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def _no_folder(tmp_path, out):
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("length", "has 600 rows but .* has 599 labels"),
        ("nan", r"1 row\(s\) of the features hold NaN or inf: rows 42"),
        ("dtype", "but got int64"),
        ("1d", "1-D shape"),
    ],
)
def test_bad_features_raise_one_error_and_write_nothing(tmp_path, capsys, case, message):
    features, labels, _ = write_pair(tmp_path)
    x = np.load(features)
    if case == "length":
        labels.write_text("\n".join(labels.read_text().splitlines()[:-1]) + "\n")
    elif case == "nan":
        x[42, 3] = np.nan
    elif case == "dtype":
        x = x.astype(np.int64)
    else:
        x = x[:, 0]
    np.save(features, x)
    out = tmp_path / "run"
    code = cli.main(["detect", "--features", str(features), "--labels", str(labels),
                     "--out", str(out), "--quiet"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(features) in err
    assert re.search(message, err), err
    _no_folder(tmp_path, out)


def test_bad_probabilities_write_nothing(tmp_path, capsys):
    p = np.full((5, 3), 0.3)
    np.save(tmp_path / "p.npy", p)
    (tmp_path / "l.txt").write_text("0\n1\n2\n0\n1\n")
    out = tmp_path / "run"
    code = cli.main(["detect", "--pred-probs", str(tmp_path / "p.npy"), "--labels",
                     str(tmp_path / "l.txt"), "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "5 row(s) do not sum to 1" in err and "rows 0, 1, 2, 3, 4" in err
    _no_folder(tmp_path, out)


def test_manifest_with_a_missing_file_writes_nothing(tmp_path, capsys):
    from PIL import Image

    images, labels = synthetic_images(6, 0)
    rows = ["path,label"]
    for i, (im, y) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(im).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{'ab'[y % 2]}")
    rows.append("gone.png,a")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "run"
    assert cli.main(["detect", "--data", str(tmp_path / "m.csv"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "m.csv" in err and "row 8: gone.png: no such file" in err
    _no_folder(tmp_path, out)


def test_new_fields_keep_old_config_hashes(monkeypatch):
    """Unset, the fields of this feature never reach the hashed text, so configs without
    them hash as before the fields existed."""
    import robustloss.run.config as config_module

    hashed: list[dict] = []

    class _Json:
        @staticmethod
        def dumps(obj, **kw):
            hashed.append(obj)
            return json.dumps(obj, **kw)

    monkeypatch.setattr(config_module, "json", _Json)
    config_hash(RunConfig())
    assert not set(SOURCE_FIELDS) & set(hashed[-1])
    with_features = RunConfig(dataset=None, features="f.npy", labels="l.npy")
    config_hash(with_features)
    assert hashed[-1]["features"] == "f.npy" and hashed[-1]["labels"] == "l.npy"
    assert "pred_probs" not in hashed[-1]
    monkeypatch.undo()
    assert config_hash(with_features) != config_hash(RunConfig(dataset=None, data="f.npz"))
    assert RunConfig.from_dict({"features": "f.npy"}).dataset is None


def test_a_config_or_spec_naming_embed_cv_says_it_was_retired_and_why():
    """embed-cv left the library (its measurement stays in benchmarks/results and git): a
    config, a sweep spec or the protocols themselves refuse it with the reason."""
    reason = "embed-cv was measured against in-sample and cv"
    retired = rf"`protocol` \(--protocol\).*'embed-cv', retired: {reason}"
    with pytest.raises(ValueError, match=retired):
        RunConfig.from_dict({"protocol": "embed-cv"})
    with pytest.raises(ValueError, match=reason):
        parse_spec('protocol = "embed-cv"\n[sweep]\nname = "x"\nseeds = [0]\n').trials()
    images, labels = synthetic_images(30, 0)
    with pytest.raises(ValueError, match=r"Expected `protocol` to be one of"):
        predicted_probabilities(images, labels, TrainConfig(), protocol="embed-cv", folds=3)
    assert "embed-cv" not in PROTOCOLS and "embed-cv" in RETIRED_PROTOCOLS
    assert "use --protocol in-sample (same cost, higher F1) or cv" in RETIRED_PROTOCOLS["embed-cv"]


def test_the_protocols_import_no_heads_on_features():
    """The import circle embed-cv needed (protocols importing probs.features inside a
    function, features importing protocols) is gone: protocols imports nothing of it."""
    tree = ast.parse(Path(protocols.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert "robustloss.probs.features" not in imported


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_embeddings_of_a_cuda_model():
    """The knn detector takes embeddings of the trained CNN, which
    device="auto" puts on the GPU: the CPU images must go to it, the rows come back."""
    images, _ = synthetic_images(40, 0)
    model = make_model("tiny", num_classes=3, in_channels=1, image_size=28)
    clf = ImageClassifier(InputScaling("raw", torch.zeros(1), torch.ones(1)), model).eval()
    on_cpu = embeddings(clf, images, batch_size=16)
    on_gpu = embeddings(clf.to("cuda"), images, batch_size=16)
    assert on_gpu.shape == on_cpu.shape == (40, 256)
    np.testing.assert_allclose(on_gpu, on_cpu, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("command", ["run", "detect"])
def test_cli_refuses_the_retired_embed_cv_protocol(tmp_path, capsys, command):
    # measured below in-sample at the same cost and retired: the command line says why
    # before anything is loaded (--data names no file) or any folder is made
    source = ["--dataset", "mnist"] if command == "run" else ["--data", str(tmp_path / "n.npz")]
    argv = [command, *source, "--protocol", "embed-cv", "--out", str(tmp_path / "x")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "'embed-cv', retired: embed-cv was measured against in-sample and cv" in err
    assert "use --protocol in-sample (same cost, higher F1) or cv" in err
    assert not (tmp_path / "x").exists()
