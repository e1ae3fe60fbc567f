"""Run folders built without training, for the review page and apply-review tests.

:func:`fake_run` writes what ``robustloss run`` / ``detect`` write and the review code reads
(``config.json``, ``summary.json``, ``detections.csv``, ``suspect_images.npz``), from
synthetic images and seeded "predictions", plus the input itself (an ``.npz``, an image
folder or a manifest) where the run says it had one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from robustloss._io import write_csv

COLUMNS = ["rank", "index", "source_index", "given_label", "given_class", "suggested_label",
           "suggested_class", "p_given", "p_suggested", "rank_score", "flagged"]  # fmt: skip


def fake_images(n: int, k: int, *, seed: int = 0, size: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """(n, size, size) uint8 images, class c a bright block at a class position; labels."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    images = rng.integers(0, 60, size=(n, size, size)).astype(np.uint8)
    step = max(1, (size - 4) // k)
    for i, c in enumerate(labels):
        images[i, 1 : 1 + 3, 1 + (c * step) % (size - 3) : 4 + (c * step) % (size - 3)] = 230
    return images, labels.astype(np.int64)


def fake_run(
    out: Path,
    *,
    n: int = 60,
    k: int = 4,
    flagged: int = 15,
    input_kind: str = "npz",
    class_names: list[str] | None = None,
    seed: int = 0,
    config_hash: str = "c0ffee" * 10 + "abcd",
    write_input: bool = True,
) -> dict:
    """Write a fake run folder ``out`` (and its input beside it); returns what was made.

    input_kind: "npz", "folder", "manifest" or "dataset" (a built-in dataset, no file).
    The first ``flagged`` examples in rank order are flagged; suggested = given + 1 mod K
    for them, given otherwise.
    """
    out.mkdir(parents=True, exist_ok=True)
    names = class_names or [f"c{j}" for j in range(k)]
    images, labels = fake_images(n, k, seed=seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    paths = None
    data = None
    if input_kind == "npz":
        data = out.parent / f"{out.name}-input.npz"
        if write_input:
            np.savez(data, images=images, labels=labels, class_names=np.array(names))
    elif input_kind in ("folder", "manifest"):
        root = out.parent / f"{out.name}-images"
        paths = []
        for i in range(n):
            p = root / names[labels[i]] / f"{i:05d}.png"
            paths.append(str(p))
            if write_input:
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(images[i]).save(p)
        data = str(root)
        if input_kind == "manifest":
            data = root / "manifest.csv"
            if write_input:
                write_csv(
                    data,
                    [{"path": f"{names[labels[i]]}/{i:05d}.png", "label": names[labels[i]],
                      "id": f"id{i}"} for i in range(n)],
                    ["path", "label", "id"],
                )
    elif input_kind != "dataset":
        raise ValueError(input_kind)
    rows = []
    for rank, i in enumerate(order.tolist(), start=1):
        is_flagged = rank <= flagged
        g = int(labels[i])
        s = (g + 1) % k if is_flagged else g
        p_given = 0.01 * rank / n if is_flagged else 0.5 + 0.4 * rank / n
        row = {
            "rank": rank, "index": i, "source_index": i, "given_label": g,
            "given_class": names[g], "suggested_label": s, "suggested_class": names[s],
            "p_given": p_given, "p_suggested": 1 - p_given if is_flagged else p_given,
            "rank_score": p_given, "flagged": int(is_flagged),
        }  # fmt: skip
        if paths is not None:
            row["path"] = paths[i]
        if input_kind == "manifest":
            row["id"] = f"id{i}"
        rows.append(row)
    cols = COLUMNS + (["path"] if paths is not None else [])
    cols += ["id"] if input_kind == "manifest" else []
    write_csv(out / "detections.csv", rows, cols)
    cfg = {"dataset": "mnist" if input_kind == "dataset" else None,
           "data": None if data is None else str(data), "loss": "blurry",
           "protocol": "cv", "image_size": None}  # fmt: skip
    (out / "config.json").write_text(
        json.dumps({"command": "detect", "config": cfg, "config_hash": config_hash})
    )
    flagged_idx = order[:flagged]
    per_class = {names[c]: int((labels[flagged_idx] == c).sum()) + 1 for c in range(k)}
    summary = {
        "command": "detect", "flagged": flagged, "n": n, "num_classes": k,
        "class_names": names, "estimated_errors": sum(per_class.values()),
        "estimated_errors_per_class": per_class, "protocol": "cv", "protocol_note": "fake",
        "config": cfg, "config_hash": config_hash, "loss_params_effective": {},
        "history": [], "top_suspects": [],
    }  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary))
    top = flagged_idx[:48]
    np.savez_compressed(out / "suspect_images.npz", indices=top, images=images[top])
    return {"images": images, "labels": labels, "order": order, "flagged": flagged_idx,
            "names": names, "data": data, "hash": config_hash, "paths": paths,
            "ids": [f"id{i}" for i in range(n)] if input_kind == "manifest" else None}  # fmt: skip


def review_rows(made: dict, decisions: list[tuple[int, str, str | None]]) -> list[dict]:
    """review.csv rows for (flagged position, decision, label name or None)."""
    names, labels, k = made["names"], made["labels"], len(made["names"])
    rows = []
    for pos, decision, label in decisions:
        i = int(made["flagged"][pos])
        g = int(labels[i])
        if label is None:
            label = {"accept": names[(g + 1) % k], "keep": names[g], "unsure": ""}[decision]
        row = {"index": i, "given": names[g], "decision": decision, "label": label,
               "run": made["hash"]}  # fmt: skip
        if made["paths"] is not None:
            row["path"] = made["paths"][i]
        if made.get("ids") is not None:
            row["id"] = made["ids"][i]
        rows.append(row)
    return rows
