"""``write_repository``: an artifact folder -> a Triton model repository, staged and renamed into place.

Layout for artifact NAME (``beit_runtime.serving_protocol.model_names``)::

    REPO/README.md, repository.json          how to serve and call it; what wrote it (Triton ignores files here)
    REPO/NAME/config.pbtxt, 1/               the ensemble clients call (not for masked image modeling)
    REPO/NAME_preprocess/1/model.py, artifact/manifest.json, beit_runtime/
    REPO/NAME_engine/1/<graph>.onnx | model.plan | (python) model.py, artifact/ (the whole artifact), beit_runtime/
    REPO/NAME_postprocess/1/model.py, artifact/manifest.json [+ postprocess.onnx], beit_runtime/
    REPO/NAME_*/warmup/<input>               model_warmup samples: one real image (``warmup``; not the ensemble)

The repository is written into a hidden folder beside ``output`` by ``beit_export.artifact.staged_artifact``
and renamed when complete: a failure or Ctrl-C leaves no partial repository. Large files are
hard-linked from the artifact when both lie on one filesystem (artifacts are never modified in
place), else copied.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from beit_runtime import serving_protocol as protocol
from beit_runtime.manifest import Manifest, copy_manifest, load_manifest
from beit_runtime.serving.install import backend_requirements
from beit_runtime.tasks import task

from .. import __version__
from ..artifact import check_output, staged_artifact
from .configs import ensemble_config, postprocess_config, preprocess_config, served_top_k
from .engine_config import engine_config, engine_files
from .options import TritonOptionsError, TritonRepositoryOptions, capped_default_note, served_max_image_pixels
from .pbtxt import to_pbtxt
from .readme import repository_readme
from .vendoring import model_py, runtime_digest, vendor_runtime
from .warmup import WARMUP_FOLDER, warmup_samples, with_warmup

FORMAT_NAME = protocol.REPOSITORY_FORMAT
DEFAULT_OPTIONS = TritonRepositoryOptions()  # frozen: one shared default


def default_name(artifact: Path) -> str:
    """A Triton model name from the artifact folder's name."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", Path(artifact).resolve().name).lstrip("_.-")
    return name or "model"


def repository_configs(manifest: Manifest, options: TritonRepositoryOptions, *, name: str) -> dict[str, dict]:
    """{Triton model name: config dict} for every model of the repository."""
    if options.graph_variant not in manifest.graphs:
        raise TritonOptionsError(
            f"artifact {manifest.folder} has no {options.graph_variant} graph "
            f"(it has {', '.join(sorted(manifest.graphs))}); "
            f"re-export with {options.export_flags} or choose another --precision"
        )
    names = protocol.model_names(name)
    configs = {names["preprocess"]: preprocess_config(names, manifest, options),
               names["engine"]: engine_config(names, manifest, options)}
    if task(manifest.task).served:
        configs[names["postprocess"]] = postprocess_config(names, manifest, options)
        configs[names["ensemble"]] = ensemble_config(names, manifest, options, version=__version__)
    return configs


def served_options(manifest: Manifest, options: TritonRepositoryOptions, *,
                   progress: Callable[[str], None] | None = None) -> TritonRepositoryOptions:
    """``options`` as served: a top-k above the model's classes is served as that many (configs and
    repository.json agree), said with ``progress``."""
    served = served_top_k(manifest, options).get(protocol.PARAMETER_TOP_K)
    if served is None or int(served) == options.top_k:
        return options
    if progress is not None:
        progress(f"--top-k {options.top_k} is more than the {served} classes of {manifest.folder.name}: "
                 f"serving the top {served}")
    return dataclasses.replace(options, top_k=int(served))


def write_repository(artifact: str | Path, output: str | Path, *, options: TritonRepositoryOptions = DEFAULT_OPTIONS,
                     overwrite: bool = False, progress: Callable[[str], None] | None = None) -> Path:
    """Write the repository for ``artifact`` at ``output``; returns ``output`` (absolute). ``progress`` gets a
    line for each option served otherwise than given (a top-k above the classes), and for a pixel limit served by
    default below the photo default (``capped_default_note``)."""
    manifest = load_manifest(artifact)
    options.check_plan_for(manifest)
    note = capped_default_note(manifest, options)
    if note is not None and progress is not None:
        progress(note)
    options = dataclasses.replace(options, max_image_pixels=served_max_image_pixels(manifest, options))
    check_output(Path(output), overwrite=overwrite, inputs={"ARTIFACT": manifest.folder})  # before the warmup runs
    name = options.name or default_name(manifest.folder)
    configs = repository_configs(manifest, options, name=name)
    options = served_options(manifest, options, progress=progress)
    samples = warmup_samples(configs, manifest, options, name=name) if options.warmup else {}
    configs = with_warmup(configs, samples)
    names = protocol.model_names(name)
    digest = runtime_digest()
    with staged_artifact(Path(output), overwrite=overwrite) as stage:
        for model, config in configs.items():
            version_dir = stage / model / "1"
            version_dir.mkdir(parents=True)  # an ensemble needs its (empty) version folder too
            (stage / model / "config.pbtxt").write_text(to_pbtxt(config), encoding="utf-8")
            if model in samples:
                (stage / model / WARMUP_FOLDER).mkdir()
                for file_name, data in samples[model].files.items():
                    (stage / model / WARMUP_FOLDER / file_name).write_bytes(data)
            if config.get("backend") == "python":
                role = next(role for role, value in names.items() if value == model)
                _python_model_files(version_dir, manifest, role=role, model=model, digest=digest)
                if role == "engine" and options.plan is not None:
                    shutil.copyfile(options.plan, version_dir / protocol.PLAN_FILE)
            elif model == names["engine"]:
                for inside, source in engine_files(manifest, options).items():
                    _link_or_copy(manifest.file_path(source), version_dir / inside)
        record = _record(manifest, options, names, configs, digest)
        (stage / protocol.REPOSITORY_RECORD).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        (stage / "README.md").write_text(repository_readme(record), encoding="utf-8")
    return Path(output).expanduser().absolute()


def _python_model_files(version_dir: Path, manifest: Manifest, *, role: str, model: str, digest: str) -> None:
    vendor_runtime(version_dir)
    text = model_py(model=model, role=role, version=__version__, digest=digest)
    (version_dir / "model.py").write_text(text, encoding="utf-8")
    folder = version_dir / protocol.ARTIFACT_FOLDER
    folder.mkdir()
    copy_manifest(manifest, folder)
    if role == "engine":  # the files the manifest names and hashes, each checked to lie inside the artifact
        for name in manifest.files:
            target = folder / name
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(manifest.file_path(name), target)
        return
    if role == "postprocess" and "postprocess" in manifest.graphs:
        graph = manifest.graphs["postprocess"].file
        _link_or_copy(manifest.graph_path("postprocess"), folder / graph)


def _link_or_copy(source, target) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _record(manifest: Manifest, options: TritonRepositoryOptions, names: dict, configs: dict, digest: str) -> dict:
    return {
        "format": FORMAT_NAME, "schema_version": 1, "name": names["ensemble"], "task": manifest.task,
        "models": {role: model for role, model in names.items() if model in configs},
        "options": {key: str(value) if isinstance(value, Path) else value for key, value in vars(options).items()},
        "outputs": [spec["name"] for spec in configs.get(names["ensemble"], {}).get("output", [])],
        "artifact": {"folder": str(manifest.folder.resolve()),
                     "source": manifest.source.to_json() if manifest.source else {}, "created": manifest.created},
        "beit_deploy": __version__, "beit_runtime_sha256": digest,
        "python_backend_requirements": backend_requirements(),
        "written": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
