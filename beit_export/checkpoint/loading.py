"""Turn ``--model`` (local folder, hub id, or preset with ``--random-init``) into a PyTorch model.

Weights load safely: safetensors when present, otherwise ``torch.load(weights_only=True)`` inside
transformers' ``from_pretrained``. The preprocessing recipe comes from the checkpoint's
``preprocessor_config.json`` read through transformers' own image processor class (see
``beit_export.checkpoint.recipe.recipe_from_processor_config``), so defaults and legacy keys resolve as HF does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

from ..errors import CheckpointConfigError, ModelLoadError, UnsupportedCheckpointError
from ..tasks import BACKBONE, MODEL_TYPES, TASKS
from .config_values import check_config_values, check_labels, check_task_config, json_object
from .location import CheckpointLocation, locate_checkpoint
from .random_init import randomize_zero_initialised
from .recipe import PROCESSOR_FILE, processor_class_name, recipe_from_processor_config
from .weights import WEIGHT_FILES, check_unexpected_keys, class_from_weight_names, task_from_weight_names, weight_names

# transformers class -> the task it carries (from the task registry: each task's hf_classes)
SUPPORTED_ARCHITECTURES: Mapping[str, str] = MappingProxyType(
    {name: entry.name for entry in TASKS.values() for name in entry.all_hf_classes}
)


@dataclass
class LoadedCheckpoint:
    """A model in eval mode plus everything the manifest needs about where it came from; ``notes``: what loading
    chose by itself (class-default preprocessing, a task read from the weights), for the export's progress lines."""

    model: torch.nn.Module
    config: Any
    task: str
    preprocessing: dict[str, Any]
    source: dict[str, Any]
    labels: dict[str, str] | None = field(default=None)
    notes: tuple[str, ...] = ()


def load_checkpoint(model: str, *, random_init: bool = False, revision: str | None = None, task: str | None = None,
                    seed: int = 0) -> LoadedCheckpoint:
    """Load ``model`` (folder, hub id, or preset id with ``random_init``) for export."""
    return load_located(locate_checkpoint(model, random_init=random_init, revision=revision), task=task, seed=seed)


def load_located(location: CheckpointLocation, *, task: str | None = None, seed: int = 0) -> LoadedCheckpoint:
    """Build the model ``locate_checkpoint`` found: random weights for a preset or ``random_init``."""
    if location.preset is not None:
        config = _config_from_dict(location.preset.config, where=f"preset {location.model}")
        return _assemble(config, location.preset.preprocessor_config, model=location.model, revision=None,
                         task=task, seed=seed, origin=f"preset {location.model}")
    folder = location.folder
    if folder is None:
        raise ModelLoadError(f"{location.model}: the location has neither a folder nor a preset; "
                             "make it with locate_checkpoint()")
    return _assemble(
        _read_config(folder), _read_json(folder / PROCESSOR_FILE), model=location.model, revision=location.revision,
        task=task, seed=seed, weights_folder=None if location.random_init else folder, origin=folder,
    )


def checkpoint_from_model(model: torch.nn.Module, *, preprocessing: dict[str, Any] | None = None,
                          task: str | None = None, source_name: str = "in-memory") -> LoadedCheckpoint:
    """Wrap an in-memory HF model (tests, notebooks); preprocessing defaults to the processor class defaults.

    The reference is the model in fp32, as the CLI loads it: a model held in fp16/bf16 (``from_pretrained(...,
    dtype=torch.float16)``) is exported from an fp32 copy of its weights; ``model`` itself is left as it is."""
    architecture, config = type(model).__name__, model.config
    _check_architecture(config, architecture)
    resolved_task = _resolve_task(architecture, task, config=config, where=f"{source_name}'s config")
    labels = _labels(config, resolved_task, where=f"{source_name}'s config (id2label)")
    notes: tuple[str, ...] = ()
    if preprocessing is None:
        preprocessing = recipe_from_processor_config(None, config=config)
        notes = (_class_defaults_note(source_name, config, preprocessing),)
    source = _source(source_name, None, config, architecture, random_init=False)
    network = _fp32(model).eval()
    return LoadedCheckpoint(model=network, config=network.config, task=resolved_task,
                            preprocessing=dict(preprocessing), source=source, labels=labels, notes=notes)


def _fp32(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` when every floating tensor is fp32, else an fp32 copy (the caller's half model stays half)."""
    tensors = [*model.parameters(), *model.buffers()]
    if all(t.dtype == torch.float32 for t in tensors if t.is_floating_point()):
        return model
    import copy

    return copy.deepcopy(model).float()


def _assemble(config, processor_config, *, model, revision, task, seed, origin: Path | str,
              weights_folder: Path | None = None) -> LoadedCheckpoint:
    """``origin``: the folder (or "preset NAME") the files came from, named in errors and notes."""
    notes: list[str] = []
    unnamed = not getattr(config, "architectures", None)  # only then do the weights name the task (and class)
    names = weight_names(weights_folder) if weights_folder is not None and unnamed else None
    architecture = _architecture(config, task, weight_names=names, notes=notes)
    resolved_task = _resolve_task(architecture, task, config=config, where=_where(origin, "config.json"))
    labels = _labels(config, resolved_task, where=_where(origin, "config.json"))
    preprocessing = recipe_from_processor_config(processor_config, config=config,
                                                 where=_where(origin, PROCESSOR_FILE))
    if processor_config is None:
        notes.append(_class_defaults_note(origin, config, preprocessing))
    if weights_folder is None:
        network = _random_model(config, architecture, seed=seed)
    else:
        network = _pretrained_model(weights_folder, config, architecture, heads_allowed=task == BACKBONE.name,
                                    named_in_config=bool(getattr(config, "architectures", None)))
    return LoadedCheckpoint(
        model=network.float().eval(), config=network.config, task=resolved_task, preprocessing=preprocessing,
        source=_source(model, revision, config, architecture, random_init=weights_folder is None),
        labels=labels, notes=tuple(notes),
    )


def _where(origin: Path | str, file: str) -> str:
    return str(origin / file) if isinstance(origin, Path) else f"{origin} ({file})"


def _class_defaults_note(origin: Path | str, config, recipe: dict[str, Any]) -> str:
    size = recipe["size"]
    return (f"{origin} has no {PROCESSOR_FILE}: preprocessing uses {processor_class_name(config.model_type)}'s "
            f"class defaults at config.json's image_size {size['height']}x{size['width']} (resample "
            f"{recipe['resample']}, mean {recipe['image_mean']}, std {recipe['image_std']}); add the checkpoint's "
            f"{PROCESSOR_FILE} if it was trained with another recipe")


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when there is no such file."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelLoadError(f"{path} is not valid JSON ({error}); re-download or re-save the checkpoint") from error
    return json_object(data, where=str(path))


def _read_config(folder: Path):
    data = _read_json(folder / "config.json")
    if data is None and (folder / "manifest.json").is_file():
        raise ModelLoadError(f"{folder} is a beit-deploy artifact (it was exported already), not a checkpoint: "
                             "--model takes a Hugging Face model folder or hub id; run the artifact with beit-run")
    if data is None:
        raise ModelLoadError(
            f"{folder} has no config.json: expected a Hugging Face model folder (as written by save_pretrained) "
            "with config.json and model.safetensors or pytorch_model.bin"
        )
    return _config_from_dict(data, where=str(folder / "config.json"))


def _config_from_dict(data: dict[str, Any], *, where: str):
    from huggingface_hub.errors import StrictDataclassError
    from transformers import AutoConfig

    values = dict(json_object(data, where=where))
    model_type = values.pop("model_type", None)
    if model_type not in MODEL_TYPES:
        raise UnsupportedCheckpointError(
            f"{where} describes a {model_type or 'model without model_type'!s} checkpoint; beit-export exports "
            "BEiT, ViT and DeiT checkpoints only (model_type 'beit', 'vit' or 'deit'; architectures "
            f"{', '.join(SUPPORTED_ARCHITECTURES)})"
        )
    values.pop("transformers_version", None)
    try:
        config = AutoConfig.for_model(model_type, **values)
    except (TypeError, ValueError, AttributeError, StrictDataclassError) as error:
        cause = " ".join(str(error).split())
        raise CheckpointConfigError(f"{where} is not a valid {model_type} config: {cause}") from error
    check_config_values(config, where=where)
    return config


def _architecture(config, task: str | None, *, weight_names: list[str] | None = None,
                  notes: list[str] | None = None) -> str:
    """config.json's architecture; without one, the class of ``task`` or of the heads in ``weight_names``."""
    architectures = list(getattr(config, "architectures", None) or [])
    if architectures:
        _check_architecture(config, architectures[0])
        return architectures[0]
    wanted = task or (task_from_weight_names(weight_names) if weight_names is not None else BACKBONE.name)
    entry = TASKS.get(wanted)
    architecture = (class_from_weight_names(weight_names, model_type=config.model_type, task=wanted)
                    or (entry.hf_classes.get(config.model_type) if entry is not None else None))
    if architecture is None:
        choices = sorted(other.name for other in TASKS.values() if config.model_type in other.hf_classes)
        raise UnsupportedCheckpointError(
            f"no {config.model_type} architecture for task {wanted!r}; choose one of {choices}"
        )
    if task is None and notes is not None:
        reason = "the weights make it" if weight_names is not None else "without weights to read, building"
        notes.append(f"config.json names no architecture: {reason} a {architecture} ({wanted}); pass --task to "
                     "choose another")
    return architecture


def _check_architecture(config, architecture: str) -> None:
    if architecture not in SUPPORTED_ARCHITECTURES:
        raise UnsupportedCheckpointError(
            f"architecture {architecture} (model_type {getattr(config, 'model_type', '?')}) is not exported by "
            f"beit-export; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )


def _resolve_task(architecture: str, task: str | None, *, config: Any, where: str) -> str:
    """The task exported (the architecture's own, or backbone), its config checked for it (``check_task_config``)."""
    native = SUPPORTED_ARCHITECTURES[architecture]
    if task is not None and task not in (native, BACKBONE.name):
        raise UnsupportedCheckpointError(
            f"a {architecture} checkpoint carries the {native!r} task; --task {task} needs a checkpoint with that "
            f"head. Use --task {native} or --task backbone"
        )
    resolved = native if task is None else task
    check_task_config(config, architecture=architecture, task=resolved, where=where)
    return resolved


def _model_class(architecture: str):
    import transformers

    return getattr(transformers, architecture)


def _random_model(config, architecture: str, *, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = _model_class(architecture)(config)
    return randomize_zero_initialised(model, seed=seed)


def _pretrained_model(folder: Path, config, architecture: str, *, heads_allowed: bool = False,
                      named_in_config: bool = True) -> torch.nn.Module:
    names = [name for name in WEIGHT_FILES if (folder / name).is_file()]
    if not names:
        raise ModelLoadError(
            f"{folder} has a config.json but no weights ({' or '.join(WEIGHT_FILES[::2])}); add the weights, "
            "or pass --random-init to export the architecture with random weights"
        )
    # mismatched shapes are reported in the loading info (then refused below), not raised as an unreadable file
    options = {"use_safetensors": names[0].startswith("model.safetensors"), "ignore_mismatched_sizes": True}
    model, info = _from_pretrained(folder, config, architecture, options)
    missing = list(info.get("missing_keys") or [])
    if missing and architecture in BACKBONE.hf_classes.values() and all(k.startswith("pooler.") for k in missing):
        model, info = _from_pretrained(folder, config, architecture, dict(options, add_pooling_layer=False))
        missing = list(info.get("missing_keys") or [])
    mismatched = sorted(info.get("mismatched_keys") or [], key=str)
    if mismatched:
        raise CheckpointConfigError(
            f"the weights in {folder} do not belong with its config.json: {len(mismatched)} parameter(s) have "
            f"another shape, e.g. {_shape_mismatch(mismatched[0])}; restore the config.json saved with these "
            "weights (or the weights saved with this config.json)"
        )
    if missing:
        raise CheckpointConfigError(
            f"the weights in {folder} do not fit a {architecture} built from its config.json "
            f"({len(missing)} missing, e.g. {sorted(missing)[:6]}); check that config.json and the weights "
            "belong together"
        )
    check_unexpected_keys(info.get("unexpected_keys") or [], folder=folder, architecture=architecture,
                          heads_allowed=heads_allowed, named_in_config=named_in_config)
    return model


def _shape_mismatch(entry) -> str:
    """``name: weights (a, b) vs config (c, d)`` for one of transformers' mismatched_keys entries."""
    if isinstance(entry, (tuple, list)) and len(entry) == 3:
        name, found, expected = entry
        return f"{name}: {tuple(found)} in the weights vs {tuple(expected)} from config.json"
    return str(entry)


def _from_pretrained(folder: Path, config, architecture: str, options: dict[str, Any]):
    try:
        return _model_class(architecture).from_pretrained(
            str(folder), config=config, output_loading_info=True, **options
        )
    except Exception as error:  # safetensors/pickle/OSError: all mean "unreadable weights"
        raise ModelLoadError(
            f"could not read the weights in {folder} ({type(error).__name__}: {str(error)[:300]}); the file is "
            "corrupt, truncated or not a PyTorch/safetensors checkpoint: re-download or re-save it"
        ) from error


def _source(model: str, revision: str | None, config, architecture: str, *, random_init: bool) -> dict[str, Any]:
    return {"model": str(model), "revision": revision, "architecture": architecture,
            "model_type": config.model_type, "random_init": bool(random_init)}


def _labels(config, task: str, *, where: str = "config.json") -> dict[str, str] | None:
    if not TASKS[task].labelled:
        return None
    return {str(k): v for k, v in sorted(check_labels(config.id2label, where=where).items())}
