"""What ``beit-run`` checks before it runs an image: the inputs are files, the options fit the artifact's task,
and every output path is known (none over an input, none shared by two inputs, none over a file already there
without ``--overwrite``) and writable."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from .bulk.walking import special_file_error
from .errors import InputError, OutputUnavailableError
from .images import missing_file_message
from .layer_outputs import attention_layer_position, exported_layers, missing_output_message
from .manifest import load_manifest
from .options import positive_int
from .output_files import checked_folder
from .tasks import task


def check_run_flags(args: argparse.Namespace) -> None:
    """InputError naming the flag when --top-k is not a positive number, --side-by-side has no --output or
    --attention-layer no --attention-maps."""
    positive_int("--top-k", args.top_k)
    if args.side_by_side and args.output is None:
        raise InputError("--side-by-side writes pictures: add --output DIR")
    if getattr(args, "attention_layer", None) is not None and getattr(args, "attention_maps", None) is None:
        raise InputError(f"--attention-layer {args.attention_layer} chooses the layer of --attention-maps pictures: "
                         "add --attention-maps DIR, or drop --attention-layer")


def attention_layer(args: argparse.Namespace) -> int:
    """The encoder layer --attention-maps draws: --attention-layer, or -1 (the last) when not given."""
    layer = getattr(args, "attention_layer", None)
    return -1 if layer is None else int(layer)


def checked_request(args: argparse.Namespace) -> str:
    """The artifact's task, once the inputs, options and every output path are known good: InputError before
    any inference, and no output folder created until then."""
    manifest = load_manifest(args.artifact, verify_files=False)
    check_request(args, task_name=str(manifest.task), attention_layers=exported_layers(manifest),
                  source=manifest.folder)
    return str(manifest.task)


def check_request(args: argparse.Namespace, *, task_name: str, attention_layers: tuple[Sequence[int], int],
                  source: Path | str) -> None:
    """``checked_request``'s checks for a ``task_name`` model (an artifact's or a served one) whose graph holds
    the attentions of ``attention_layers`` ((exported layers, the model's layers)); ``source`` names it."""
    for path in args.images:
        if not path.exists():
            raise InputError(missing_file_message(path))
        if not path.is_file():
            raise special_file_error(path)
    suffixes = _output_suffixes(args, task(task_name).runtime_class, task_name)
    if args.attention_maps is not None:
        _check_attention_request(attention_layer(args), task_name=task_name, layers=attention_layers, source=source)
    _check_targets(args.images, _targets(args, suffixes), overwrite=args.overwrite)
    for option, folder in (("--output", args.output), ("--attention-maps", args.attention_maps)):
        if folder is not None:
            checked_folder(folder, option=option)


# what --output holds per image, by task class (the suffix after the image's name without its extension)
_OUTPUT_SUFFIXES = {"FeatureExtractor": (".npy",), "Segmenter": (".png",)}


def _output_suffixes(args: argparse.Namespace, runtime_class: str, task_name: str) -> tuple[str, ...]:
    """The suffixes of the files --output gets per image; InputError when this task writes none."""
    if args.output is None:
        return ()
    if runtime_class not in _OUTPUT_SUFFIXES:
        raise InputError(f"--output saves embeddings (backbone artifacts) or overlays (semantic-segmentation "
                         f"artifacts); {args.artifact} is {task_name}: drop --output (--json prints a record)")
    if args.side_by_side and runtime_class != "Segmenter":
        raise InputError(f"--side-by-side draws segmentation overlays; {args.artifact} is {task_name}: "
                         "drop --side-by-side")
    return _OUTPUT_SUFFIXES[runtime_class] + ((".side-by-side.png",) if args.side_by_side else ())


def _check_attention_request(layer: int, *, task_name: str, layers: tuple[Sequence[int], int],
                             source: Path | str) -> None:
    """InputError unless the task's class draws attention maps, the graph outputs attentions (``layers``:
    (exported layers, the model's layers)), and --attention-layer is one of the layers it holds."""
    from .attention_pictures import check_attention_source
    from .model_base import task_class

    check_attention_source(task_class(task_name))
    exported, total = layers
    if not total or not exported:
        raise InputError(f"--attention-maps: {missing_output_message(source, 'attentions')}")
    try:
        attention_layer_position(layer, exported=exported, total=total, folder=source)
    except (InputError, OutputUnavailableError) as error:  # a layer the model lacks, or the artifact does not hold
        raise InputError(f"--attention-layer {layer}: {error}") from None


def _targets(args: argparse.Namespace, suffixes: tuple[str, ...]) -> list[tuple[Path, str, Path]]:
    """(image, option, target) for every file the run writes ("*" in a name: a head number)."""
    from .attention_pictures import PICTURE_SUFFIXES

    folders = [(args.output, "--output", suffixes), (args.attention_maps, "--attention-maps", PICTURE_SUFFIXES)]
    return [(image, option, output_target(folder.resolve(), image, suffix))
            for folder, option, names in folders if folder is not None
            for image in args.images for suffix in names]


def _check_targets(images: Sequence[Path], targets: Sequence[tuple[Path, str, Path]], *, overwrite: bool) -> None:
    """InputError when two images would write the same file, a file would be written over an image, or (without
    ``overwrite``) over any file already there."""
    writers: dict[Path, Path] = {}
    for image, option, target in targets:
        first = writers.setdefault(target, image)
        if first != image and first.resolve() != image.resolve():
            raise InputError(f"{first} and {image} would both write {target} ({option} names outputs after the "
                             f"image's file name without its extension): run them with separate {option} "
                             "folders, or rename one")
    by_folder: dict[Path, set[str]] = {}
    listed: dict[Path, list[str]] = {}
    for image in images:  # the folder resolved, not the name: a link among the outputs would be replaced too
        by_folder.setdefault(image.parent.resolve(), set()).add(image.name)
    for image, option, target in targets:
        if _names_match(image, target.name, by_folder.get(target.parent, set())):
            raise InputError(f"{option} {target.parent}: the output {target} of {image} would overwrite an input "
                             f"image; beit-run never writes over its inputs: pass another {option} folder")
        if target.is_dir():
            raise InputError(f"{option} {target.parent}: the output {target} of {image} is a folder; "
                             f"move it away or pass another {option} folder")
        if target.parent not in listed:  # each output folder listed once (none yet: it is created later)
            listed[target.parent] = os.listdir(target.parent) if target.parent.is_dir() else []
        existing = [] if overwrite else _matching(image, target.name, listed[target.parent])
        if existing:
            raise InputError(f"{option} {target.parent} already holds {existing[0]}, the output of {image} (an "
                             "earlier run's, or a file of yours): pass --overwrite to replace it, or another "
                             f"{option} folder")


def _names_match(image: Path, target_name: str, names: set[str]) -> bool:
    """Whether ``target_name`` (``image``'s stem and a suffix, "*" in the suffix: a number) is one of ``names``."""
    return bool(_matching(image, target_name, names))


def _matching(image: Path, target_name: str, names: Iterable[str]) -> list[str]:
    """The ``names`` that ``target_name`` (``image``'s stem and a suffix, "*" in the suffix: a number) names."""
    suffix = target_name[len(image.stem):]
    if "*" not in suffix:
        return [name for name in names if name == target_name]
    pattern = re.compile(re.escape(image.stem) + re.escape(suffix).replace(re.escape("*"), "[0-9]+"))
    return sorted(name for name in names if pattern.fullmatch(name))


def output_target(folder: Path, image_path: Path, suffix: str) -> Path:
    """Where an output of ``image_path`` goes: its file name without the extension, then ``suffix``."""
    return folder / (image_path.stem + suffix)
