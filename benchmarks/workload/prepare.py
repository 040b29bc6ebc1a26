"""Get the artifact and the matching Hugging Face folder for a model, exporting once into a cache.

The random-init checkpoint is exported with ``beit_export.pipeline.export_artifact`` and saved with
``save_pretrained`` (plus its PIL image processor) from the same in-memory model, so every backend
runs the same weights. The cache folder is reused on the next run when it holds the graphs needed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

from beit_runtime.errors import ManifestError
from beit_runtime.manifest import Manifest, load_manifest

from .jobs import ModelInfo
from .tiny import TINY_MODELS, tiny_checkpoint

FAILURES_FILE = "export_failures.json"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "--", name).strip("-")


def _checkpoint(model: str, *, random_init: bool = True):
    if model in TINY_MODELS:
        return tiny_checkpoint(model)
    from beit_export.checkpoint import load_checkpoint

    return load_checkpoint(model, random_init=random_init)


def _save_hf(checkpoint, hf_dir: Path) -> None:
    from beit_export.checkpoint import processor_from_recipe

    if hf_dir.exists():
        shutil.rmtree(hf_dir)
    checkpoint.model.save_pretrained(hf_dir)
    processor = processor_from_recipe(checkpoint.preprocessing, model_type=checkpoint.config.model_type)
    processor.save_pretrained(hf_dir)


def _manifest(artifact_dir: Path) -> Manifest | None:
    """The artifact's manifest (files not hashed: the cache is ours), None when there is no artifact yet."""
    try:
        return load_manifest(artifact_dir, verify_files=False)
    except ManifestError:
        return None


def _graphs(artifact_dir: Path) -> tuple[set[str], set[str]]:
    manifest = _manifest(artifact_dir)
    if manifest is None:
        return set(), set()
    return set(manifest.graphs), set(manifest.engines)


def _failed_variant(error: Exception, wanted: set[str]) -> str | None:
    """The reduced-precision variant a ParityError names, if any (then the export is retried without it)."""
    return next((v for v in ("int8", "fp16") if v in wanted and f"model.{v}.onnx" in str(error)), None)


def export_into_cache(model: str, folder: Path, *, variants: set[str], int8_mode: str) -> None:
    """Export into ``folder/artifact``; a variant that fails the parity gate is dropped (reason kept)."""
    from beit_export.errors import ParityError
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact

    checkpoint, wanted, failures = _checkpoint(model), set(variants), {}
    artifact_dir = folder / "artifact"
    folder.mkdir(parents=True, exist_ok=True)
    while True:
        print(f"[bench] exporting {model} (random init; graphs {sorted(wanted)}) into {folder}", file=sys.stderr)
        if artifact_dir.exists():
            shutil.rmtree(artifact_dir)
        try:
            options = ExportOptions(fp16="fp16" in wanted, int8="int8" in wanted,
                                    int8_mode=int8_mode if "int8" in wanted else None)
            export_artifact(checkpoint, output=artifact_dir, options=options,
                            progress=lambda text: print(f"[bench] export: {text}", file=sys.stderr))
            break
        except ParityError as error:
            failed = _failed_variant(error, wanted)
            if failed is None:
                raise
            failures[failed] = "the exporter's parity gate rejected it: " + " ".join(str(error).split("\n")[1:3])
            wanted.discard(failed)
    (folder / FAILURES_FILE).write_text(json.dumps(failures, indent=1), encoding="utf-8")
    _save_hf(checkpoint, folder / "hf")


def _known_failures(artifact_dir: Path) -> dict[str, str]:
    path = artifact_dir.parent / FAILURES_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _hf_for_artifact(artifact_dir: Path, cache_dir: Path) -> Path:
    """A Hugging Face folder for a user-given artifact: its source model rebuilt from the manifest."""
    source = load_manifest(artifact_dir, verify_files=False).source
    if source is None:
        raise ManifestError(f"{artifact_dir}'s manifest names no source model, so the PyTorch reference cannot be "
                            "rebuilt; benchmark an artifact written by `beit-export` (it records one)")
    hf_dir = cache_dir / slug(source.model) / "hf"
    if not (hf_dir / "preprocessor_config.json").is_file():
        print(f"[bench] loading {source.model} for the PyTorch reference of {artifact_dir}", file=sys.stderr)
        _save_hf(_checkpoint(source.model, random_init=source.random_init), hf_dir)
    return hf_dir


def build_tensorrt_engine(artifact_dir: Path) -> None:
    """Build a TensorRT engine into the artifact when TensorRT and a GPU are here and it has none yet."""
    if importlib.util.find_spec("tensorrt") is None or _graphs(artifact_dir)[1]:
        return
    from beit_export.tensorrt import TensorRTBuildOptions, build_engine

    print(f"[bench] building a TensorRT engine for {artifact_dir}", file=sys.stderr)
    variant = "fp16" if "fp16" in _graphs(artifact_dir)[0] else "fp32"
    build_engine(artifact_dir, options=TensorRTBuildOptions(graph_variant=variant))


def _model_info(name: str, artifact_dir: Path, hf_dir: Path) -> ModelInfo:
    manifest = load_manifest(artifact_dir, verify_files=False)
    config = json.loads((hf_dir / "config.json").read_text(encoding="utf-8"))
    graphs, engines = _graphs(artifact_dir)
    return ModelInfo(
        name=name, task=manifest.task, artifact_dir=str(artifact_dir), hf_dir=str(hf_dir),
        height=manifest.input.height, width=manifest.input.width, config=config,
        graph_variants=tuple(sorted(graphs)), engine_variants=tuple(sorted(engines)),
        export_failures=_known_failures(artifact_dir),
    )


def prepare_model(model: str, *, cache_dir: Path, variants: set[str], artifact_dir: Path | None = None,
                  tensorrt: bool = False, int8_mode: str = "dynamic") -> ModelInfo:
    """Use ``artifact_dir`` as given, or the cached export of ``model`` (exporting it when missing)."""
    if artifact_dir is not None:
        hf_dir = _hf_for_artifact(artifact_dir, cache_dir)
    else:
        folder = cache_dir / f"{slug(model)}--int8-{int8_mode}"
        artifact_dir, hf_dir = folder / "artifact", folder / "hf"
        graphs, _ = _graphs(artifact_dir)
        cached = variants <= graphs | set(_known_failures(artifact_dir))
        if not cached or not (hf_dir / "preprocessor_config.json").is_file():
            export_into_cache(model, folder, variants=variants | graphs, int8_mode=int8_mode)
    if tensorrt:
        build_tensorrt_engine(artifact_dir)
    return _model_info(model, artifact_dir, hf_dir)
