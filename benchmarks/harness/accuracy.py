"""Accuracy beside speed: held-out digits top-1 for every runtime row that was timed.

A run of presets (random weights: nothing to score) measures the trained digits classifier
``beit-deploy/demo-classification`` (trained here on the first 1,438 of scikit-learn's digits) instead, exported
once into the cache by the same recipe: one artifact with fp16 + static QDQ int8, one with dynamic int8. A run of
``--artifact-dir`` scores that artifact's own graphs, when it is a classifier of the digits 0-9; otherwise every
row says why it has no figure. Each row that is a beit_runtime task class (``BackendSpec.runtime``) and ran in the
timing classifies the 359 held-out digits with the same precision and engine backend; other rows say why not.
"""

from __future__ import annotations

import json
from pathlib import Path

from beit_runtime.manifest import is_artifact, load_manifest
from beit_runtime.tasks import task

from ..backends import REGISTRY
from .runner import run_job

MODEL_ID = "beit-deploy/demo-classification"
DIGIT_LABELS = {index: str(index) for index in range(10)}


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


def unscored_reason(artifact_dir: Path) -> str | None:
    """Why the held-out digits cannot score ``artifact_dir`` (None: it classifies the digits 0-9)."""
    manifest = load_manifest(artifact_dir, verify_files=False)
    if task(manifest.task).evaluation != "classification":
        return (f"not scored: a {manifest.task} artifact; the held-out digits score only a classifier of the "
                "digits 0-9")
    labels = dict(manifest.labels)
    if labels != DIGIT_LABELS:
        shown = ", ".join(labels[k] for k in sorted(labels)[:5]) + (", ..." if len(labels) > 5 else "")
        return (f"not scored: the artifact's {len(labels)} classes ({shown or 'unnamed'}) are not the digits 0-9, "
                "so the held-out digits cannot score it")
    return None


def not_timed(name: str, models: list[dict]) -> str | None:
    """Why row ``name`` has no timing in any of ``models`` (None: it was timed)."""
    records = [model["backends"].get(name) or {} for model in models]
    if any(r.get("batches") and "skipped" not in r and "error" not in r for r in records):
        return None
    reasons = [r.get("skipped") or r.get("error") for r in records if r.get("skipped") or r.get("error")]
    return f"not timed in this run{f': {reasons[0]}' if reasons else ''}"


def classifier_accuracy(backends, *, models: list[dict], cache_dir: Path, threads: int, quick: bool = False,
                        artifact_dir: Path | None = None) -> dict:
    """{"model", "source": "demo" | "artifact", "held_out", "rows": {backend: {"top1", "correct"} | {"skipped"}},
    "not_scored"?} for the runtime rows; only the rows timed in ``models`` are measured."""
    runtime = [name for name in backends if REGISTRY[name].runtime]
    if not runtime:
        return {}
    skipped = {name: why for name in runtime if (why := not_timed(name, models))}
    source = {"model": str(artifact_dir), "source": "artifact"} if artifact_dir else {"model": MODEL_ID,
                                                                                         "source": "demo"}
    reason = unscored_reason(Path(artifact_dir)) if artifact_dir else None
    if reason:
        return {**source, "not_scored": reason,
                "rows": {name: {"skipped": skipped.get(name, reason)} for name in runtime}}
    timed = [name for name in runtime if name not in skipped]
    result: dict = {"rows": {}}
    if timed:
        artifacts = {} if artifact_dir else _export(Path(cache_dir))
        rows = {name: {"precision": REGISTRY[name].runtime[0], "backend": REGISTRY[name].runtime[1],
                       "folder": str(artifact_dir) if artifact_dir else artifacts[_demo_mode(name)]}
                for name in timed}
        result = run_job("accuracy", {"rows": rows, "threads": threads, "limit": 64 if quick else None},
                         threads=threads)
    measured = result.get("rows") or {}
    rows_out = {name: measured.get(name) or {"skipped": skipped.get(name, "not measured")} for name in runtime}
    return {**source, **result, "rows": rows_out}


def _demo_mode(name: str) -> str:
    """The demo classifier export a row reads: the dynamic-int8 one for a dynamic int8 row, else the static one."""
    spec = REGISTRY[name]
    return "dynamic" if spec.runtime and spec.runtime[0] == "int8" and spec.int8_mode == "dynamic" else "static"


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
        try:
            with Classifier(row["folder"], precision=row["precision"], backend=row["backend"], batch_size=64,
                            intra_op_threads=payload["threads"]) as classifier:
                predicted = np.argmax(classifier.logits(images), axis=-1)
        except BeitDeployError as error:
            measured[name] = {"skipped": str(error)}
            continue
        top1 = top1_accuracy(predicted, labels)
        measured[name] = {"top1": round(top1, 4), "correct": round(top1 * len(labels))}
    return {"held_out": len(labels), "rows": json.loads(json.dumps(measured))}
