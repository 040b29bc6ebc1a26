"""What ``beit-run ARTIFACT IMAGE...`` prints and writes for image files named alone, from a task class or its
Remote* client (``report``).

Each file is decoded once (upright, as ``beit_runtime.images.load_image`` does): one that does not decode gets
an error line naming it. A local model is given the decoded arrays; a served one the files' own bytes (a JPEG
stays a JPEG on the wire), checked to decode here first. When the model refuses the batch over one image (an
``ImageError`` or ``InputError``: a server's size limit, say), each image is run alone, so the others still get
their results and only the refused ones an error line. With ``--json`` an image that got an error line also gets
a JSON line on stdout, with the fields of a folder run's errors.jsonl: ``{"image": PATH, "error": TYPE, "reason":
MESSAGE}``. The exit code is 0, or 3 (as for a folder run with failures) when any image got an error line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from .errors import BeitDeployError, ImageError, InputError
from .exit_codes import EXIT_OK, EXIT_SOME_FAILED
from .images import load_image
from .output_files import write_with
from .run_checks import attention_layer, output_target
from .tasks import task
from .thread_pool import parallel_map


@dataclass(frozen=True)
class NamedImage:
    """One image file named alone: its path, its decoded pixels, and what the model is given (``source``)."""

    path: Path
    image: np.ndarray
    source: Any


Decoded = Sequence[NamedImage]


def _emit(args: argparse.Namespace, name: str, record: dict[str, Any], lines: Sequence[str]) -> None:
    if args.json:
        print(json.dumps({"image": name, **record}))
        return
    print(name)
    for line in lines:
        print(f"  {line}")


def _failed(args: argparse.Namespace, path: Path, error: BeitDeployError, *, line: str) -> None:
    """An image that got no result: ``line`` on stderr and, with --json, its record on stdout (the fields of a folder
    run's errors.jsonl)."""
    print(f"beit-run: error: {line}", file=sys.stderr)
    if args.json:
        print(json.dumps({"image": str(path), "error": type(error).__name__, "reason": str(error)}))


def _classify(args: argparse.Namespace, model: Any, decoded: Decoded) -> None:
    results = model.classify([item.source for item in decoded], top_k=args.top_k)
    for item, predictions in zip(decoded, results, strict=True):
        record = {"predictions": [{"label": p.label, "id": p.id, "score": p.score} for p in predictions]}
        _emit(args, str(item.path), record, [f"{p.score:.4f}  {p.label} ({p.id})" for p in predictions])


def _embed(args: argparse.Namespace, model: Any, decoded: Decoded) -> None:
    pooled = model.extract([item.source for item in decoded])
    for item, vector in zip(decoded, pooled, strict=True):
        saved = _save(args.output, item.path, ".npy", partial(np.save, arr=vector))
        record = {"dim": int(vector.shape[0]), "norm": float(np.linalg.norm(vector)), "saved": saved}
        shown = f"embedding dim {vector.shape[0]}, norm {record['norm']:.4f}"
        _emit(args, str(item.path), record, [shown, *_saved(saved)])


def _masked(args: argparse.Namespace, model: Any, decoded: Decoded) -> None:
    masks = [model.default_mask(item.image) for item in decoded]  # per image: grids differ on some artifacts
    tokens = model.predict([item.source for item in decoded], masks)
    for item, ids in zip(decoded, tokens, strict=True):
        shown = " ".join(str(int(i)) for i in ids[:16])
        _emit(args, str(item.path), {"token_ids": ids.tolist()}, [f"{ids.shape[0]} visual tokens: {shown} ..."])


def _segment(args: argparse.Namespace, model: Any, decoded: Decoded) -> None:
    from .legend import legend_entries

    results = model.segment([item.source for item in decoded])
    names = model.labels
    for item, result in zip(decoded, results, strict=True):
        saved = _write_pictures(args, item.path, item.image, result.labels, names)
        shares = [{"id": e.id, "label": e.name, "fraction": e.fraction} for e in legend_entries(result.labels, names)]
        lines = [f"{s['fraction']:.3f}  {s['label']} ({s['id']})" for s in shares[: args.top_k]]
        record = {"classes": shares, "saved": saved[0] if saved else None, "pictures": saved}
        _emit(args, str(item.path), record, lines + [f"saved {target}" for target in saved])


def _write_pictures(args: argparse.Namespace, path: Path, image: np.ndarray, labels: np.ndarray,
                    names: Mapping[int, str]) -> list[str]:
    """With --output: NAME.png (overlay + legend) and, with --side-by-side, NAME.side-by-side.png."""
    from .legend import write_segmentation_picture

    if args.output is None:
        return []
    pictures = [(".png", False)] + ([(".side-by-side.png", True)] if args.side_by_side else [])
    return [_write(args.output, path, suffix, partial(write_segmentation_picture, image, labels, id2label=names,
                                                      side_by_side=side)) for suffix, side in pictures]


def _save(output: Path | None, image_path: Path, suffix: str, write: Callable[[Path], object]) -> str | None:
    """With an output folder: ``_write``; without one, nothing (None)."""
    return None if output is None else _write(output, image_path, suffix, write)


def _write(output: Path, image_path: Path, suffix: str, write: Callable[[Path], object]) -> str:
    """``write`` into ``_target``'s temporary, renamed over it when whole; the target's path."""
    return str(write_with(output_target(output, image_path, suffix), write))


def _saved(saved: str | None) -> list[str]:
    return [f"saved {saved}"] if saved else []


# how beit-run reports each task class's results, keyed by the class's name (the registry's runtime_class)
_REPORTS: Mapping[str, Callable[[argparse.Namespace, Any, Decoded], None]] = {
    "Classifier": _classify,
    "FeatureExtractor": _embed,
    "MaskedImageModeler": _masked,
    "Segmenter": _segment,
}


def report(args: argparse.Namespace, model: Any, task_name: str, *, served: bool = False) -> int:
    """Every image's results (and attention pictures) from ``model``, a task class or (``served``) its Remote*
    client; the exit code (see the module docstring)."""
    decoded = decoded_images(args, served=served)
    failed = len(args.images) - len(decoded)
    if decoded:
        failed += _report_each(args, model, _REPORTS[task(task_name).runtime_class], decoded)
        if args.attention_maps is not None:
            _attention_maps(args, model, [item.path for item in decoded])
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _report_each(args: argparse.Namespace, model: Any, reporter: Callable[..., None], decoded: Decoded) -> int:
    """``reporter`` on all of ``decoded`` at once; when the model refuses an image, on each alone: how many
    were refused (each named on stderr)."""
    try:
        reporter(args, model, decoded)
        return 0
    except (ImageError, InputError) as error:
        if len(decoded) == 1:
            _failed(args, decoded[0].path, error, line=f"{decoded[0].path}: {error}")
            return 1
    return sum(_report_each(args, model, reporter, [item]) for item in decoded)


def decoded_images(args: argparse.Namespace, *, served: bool) -> list[NamedImage]:
    """The images of ``args.images`` that decode (each once, upright), in order; an error line (``_failed``) for
    each other."""
    def decode(path: Path) -> np.ndarray | ImageError:
        try:
            return load_image(str(path))
        except ImageError as error:
            return error

    decoded = []
    for path, image in zip(args.images, parallel_map(decode, list(args.images)), strict=True):
        if isinstance(image, ImageError):
            _failed(args, path, image, line=str(image))
        else:
            decoded.append(NamedImage(path, image, str(path) if served else image))
    return decoded


def _attention_maps(args: argparse.Namespace, model: Any, paths: Sequence[Path]) -> None:
    from .attention_pictures import write_image_attention_pictures

    written = write_image_attention_pictures(model, paths, args.attention_maps, layer=attention_layer(args))
    for path, pictures in written.items():
        _emit(args, path, {"attention_maps": [str(p) for p in pictures]}, [f"saved {p}" for p in pictures])


