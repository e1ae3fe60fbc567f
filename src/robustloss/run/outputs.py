"""What a run leaves: its summary, its config record, and the files of its run folder.

:func:`summarize` is the :class:`~robustloss.run.records.RunSummary` a run returns (and
summary.json); :func:`config_record` is config.json (how the run was made: settings,
seeds, versions, command line); :func:`write_files` writes every file of the run folder but
the report (:mod:`robustloss.run.rundir` describes them).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from robustloss._version import __version__
from robustloss.detect import score_detections
from robustloss.probs.records import ProbabilityResult
from robustloss.run import rundir
from robustloss.run.config import RunConfig
from robustloss.run.phases import Detection
from robustloss.run.records import Corruption, RunSummary
from robustloss.run.trainset import TrainingSet
from robustloss.seeds import SUBSET_STREAM, derive_seed

__all__ = ["config_record", "score", "summarize", "write_files"]

# Detection settings not exposed as flags, recorded in config.json.
_DETECT_FIXED = {"frac_noise": 1.0, "min_examples_per_class": 1, "n_jobs": 1}


def score(detection: Detection, truth: Corruption | None) -> dict[str, Any]:
    """Precision, recall, F1, flagged, correct, corrupted with a truth; else flagged alone."""
    if truth is None:
        return {"flagged": int(detection.flagged.size)}
    return score_detections(detection.flagged, truth.corrupted)


def summarize(
    cfg: RunConfig,
    chash: str,
    command: str,
    train_set: TrainingSet,
    probs: ProbabilityResult,
    detection: Detection,
    truth: Corruption | None,
    table: rundir.DetectionTable,
    out: Path | None,
) -> RunSummary:
    names = train_set.data.class_names
    test_accs = probs.test_acc_per_model
    return RunSummary(
        command=command,
        **score(detection, truth),
        test_acc=None if not test_accs else float(np.mean(test_accs)),
        test_acc_per_model=test_accs,
        n=int(train_set.labels.shape[0]),
        num_classes=train_set.num_classes,
        class_names=names,
        estimated_errors=int(detection.per_class.sum()),
        estimated_errors_per_class={
            names[k] if k < len(names) else str(k): int(v)
            for k, v in enumerate(detection.per_class)
        },
        protocol=probs.protocol,
        protocol_note=probs.note,
        config=cfg.resolved(),
        config_hash=chash,
        loss_params_effective=cfg.effective_loss_params(),
        history=probs.history_rows(),
        out_dir=None if out is None else str(out),
        top_suspects=table.rows[: min(10, int(detection.flagged.size))],
        **_runtime(probs),
        **_detector_fields(cfg, detection, truth),
    )


def _detector_fields(
    cfg: RunConfig, detection: Detection, truth: Corruption | None
) -> dict[str, Any]:
    """The summary's detector, its cost, and the compared detectors' scores."""
    phase = detection.phase
    return {
        "detector": cfg.detector,
        "detector_seconds": phase.seconds[cfg.detector],
        "detectors": None
        if cfg.compare_detectors is None
        else phase.comparison(None if truth is None else truth.corrupted),
        "detector_costs": phase.costs or None,
    }


def _runtime(probs: ProbabilityResult) -> dict[str, Any]:
    """What the run's precision resolved to here, and the epochs its models predicted with."""
    tc = probs.train_config
    return {
        "precision_used": tc.get("precision"),
        "memory_format": tc.get("memory_format"),
        "cpu_capability": tc.get("cpu_capability"),
        "native_bf16": tc.get("native_bf16"),
        "chosen_epochs": [int(e) for e in probs.chosen_epochs] or None,
    }


def config_record(
    cfg: RunConfig,
    chash: str,
    command: str,
    train_set: TrainingSet,
    probs: ProbabilityResult,
    truth: Corruption | None,
    resume_dir: str | os.PathLike | None,
    detection: Detection,
) -> dict[str, Any]:
    """config.json: how this run was made (settings, seeds, versions, command line)."""
    return {
        "command": command,
        "config": cfg.resolved(),
        "config_hash": chash,
        "protocol_note": probs.note,
        "loss_params_effective": cfg.effective_loss_params(),
        "train_config": probs.train_config,
        "detect": {
            "detector": cfg.detector,
            "compare_detectors": list(cfg.detectors_run()),
            "method": cfg.method,
            "rank_by": cfg.rank_by,
            **_DETECT_FIXED,
            "aum_threshold": None
            if detection.phase.threshold is None
            else detection.phase.threshold.threshold,
        },
        "seeds": {
            "seed": cfg.seed,
            "noise_seed": None if truth is None else truth.seed,
            "subset_seed": None if cfg.subset is None else derive_seed(cfg.seed, SUBSET_STREAM),
            "split_seed": probs.split_seed,
            "model_seeds": probs.seeds,
        },
        "source": train_set.data.source,
        "resumed_from_warmup": None if resume_dir is None else str(resume_dir),
        "environment": probs.environment,
        "robustloss": __version__,
        "argv": sys.argv,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def write_files(
    folder: Path,
    meta: dict[str, Any],
    summary: RunSummary,
    train_set: TrainingSet,
    probs: ProbabilityResult,
    detection: Detection,
    truth: Corruption | None,
    table: rundir.DetectionTable,
) -> None:
    """Every file of the run folder but the report (see :mod:`robustloss.run.rundir`)."""
    rundir.write_json(folder / "config.json", meta)
    rundir.write_history(folder, summary.history)
    if truth is not None:
        rundir.write_json(folder / "corruption.json", truth.to_dict())
    np.save(folder / "pred_probs.npy", probs.pred_probs)
    rundir.write_detections(folder, table)
    if train_set.images is not None:  # features and given probabilities have none
        rundir.write_suspect_images(
            folder, train_set.images, detection.flagged, None if truth is None else truth.corrupted
        )
    rundir.write_json(folder / "summary.json", summary.to_dict())
