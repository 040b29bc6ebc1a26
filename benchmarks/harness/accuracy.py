"""Accuracy beside speed: the trained digits classifier's held-out top-1 for every runtime row.

``beit-deploy/demo-classification`` (trained here on the first 1,438 of scikit-learn's digits) is
exported once into the cache: one artifact with fp16 + static QDQ int8, one with dynamic int8. Each
benchmark row that is a beit_runtime task class (``BackendSpec.runtime``) classifies the 359 held-out
digits with the same precision and engine backend; rows that cannot run here say why.
"""

from __future__ import annotations

import json
from pathlib import Path

from beit_runtime.manifest import is_artifact

from ..backends import REGISTRY
from .runner import run_job

MODEL_ID = "beit-deploy/demo-classification"


def _export(cache_dir: Path) -> dict[str, str]:
    from beit_export.checkpoint import load_checkpoint
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact

    demo = cache_dir / "demo-classification"
    folders = {"static": demo / "static", "dynamic": demo / "dynamic"}
    checkpoint = None
    for mode, folder in folders.items():
        if is_artifact(folder):
            continue
        checkpoint = checkpoint or load_checkpoint(MODEL_ID)
        options = ExportOptions(fp16=mode == "static", int8=True, int8_mode=mode, overwrite=True)
        export_artifact(checkpoint, output=folder, options=options)
    return {mode: str(folder) for mode, folder in folders.items()}


def classifier_accuracy(backends, *, cache_dir: Path, threads: int, quick: bool = False) -> dict:
    """{"model", "held_out", "rows": {backend: {"top1", "correct"} | {"skipped"}}} for the runtime rows."""
    rows = {name: {"precision": REGISTRY[name].runtime[0], "backend": REGISTRY[name].runtime[1],
                   "int8_mode": REGISTRY[name].int8_mode or "static"}
            for name in backends if REGISTRY[name].runtime}
    if not rows:
        return {}
    artifacts = _export(Path(cache_dir))
    result = run_job("accuracy", {"artifacts": artifacts, "rows": rows, "threads": threads,
                                  "limit": 64 if quick else None}, threads=threads)
    return {"model": MODEL_ID, **result}


def measure_rows(payload: dict) -> dict:
    """The worker side: classify the held-out digits once per row."""
    import numpy as np

    from beit_export.demo.digits import held_out_split, top1_accuracy
    from beit_runtime import Classifier
    from beit_runtime.errors import BeitDeployError

    digits = held_out_split()
    images, labels = digits.image_list()[: payload["limit"]], digits.labels[: payload["limit"]]
    measured = {}
    for name, row in payload["rows"].items():
        dynamic_int8 = row["precision"] == "int8" and row["int8_mode"] == "dynamic"
        folder = payload["artifacts"]["dynamic" if dynamic_int8 else "static"]
        try:
            with Classifier(folder, precision=row["precision"], backend=row["backend"], batch_size=64,
                            intra_op_threads=payload["threads"]) as classifier:
                predicted = np.argmax(classifier.logits(images), axis=-1)
        except BeitDeployError as error:
            measured[name] = {"skipped": str(error)}
            continue
        top1 = top1_accuracy(predicted, labels)
        measured[name] = {"top1": round(top1, 4), "correct": round(top1 * len(labels))}
    return {"held_out": len(labels), "rows": json.loads(json.dumps(measured))}
