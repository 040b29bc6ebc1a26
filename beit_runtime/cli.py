"""``beit-run ARTIFACT IMAGE...``: try an exported artifact on image files without writing code.

- image-classification: prints the top-k labels and scores of every image (``--json`` for JSON);
- backbone: prints each image's pooled embedding size and norm; ``--output DIR`` saves NAME.npy;
- masked-image-modeling: prints the predicted visual tokens of each image with no patch masked;
- semantic-segmentation: prints the classes found; ``--output DIR`` writes NAME.png, the colour overlay
  above a legend of the classes present, and with ``--side-by-side`` also NAME.side-by-side.png, the
  image and the overlay next to each other above the legend.

Image files are decoded as ``beit_runtime.images.load_image`` does (EXIF orientation applied).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .engines import BACKENDS
from .errors import BeitDeployError
from .images import load_image
from .manifest import load_manifest
from .model_base import PRECISIONS
from .preprocess import parallel_map


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="beit-run", description="Run an exported BEiT/ViT artifact on images.")
    parser.add_argument("artifact", type=Path, help="artifact folder (holds manifest.json)")
    parser.add_argument("images", nargs="+", type=Path, help="image files (JPEG, PNG, ...)")
    parser.add_argument("--top-k", type=int, default=5, help="predictions per image (classification; default 5)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="graph variant to run (default fp32)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="inference backend (default auto)")
    parser.add_argument("--threads", type=int, default=0, help="inference threads for ONNX Runtime / OpenVINO (default 0: the library's choice)")
    parser.add_argument("--batch-size", type=int, default=8, help="images per engine call (default 8)")
    parser.add_argument("--output", type=Path, default=None, help="folder for embeddings (.npy) or overlays (.png)")
    parser.add_argument("--side-by-side", action="store_true",
                        help="segmentation: also write NAME.side-by-side.png (image | overlay, with the legend)")
    parser.add_argument("--json", action="store_true", help="print results as JSON lines")
    return parser


def _options(args: argparse.Namespace) -> dict:
    return {"precision": args.precision, "backend": args.backend, "batch_size": args.batch_size,
            "intra_op_threads": args.threads}


def _emit(args: argparse.Namespace, name: str, record: dict, lines: Sequence[str]) -> None:
    if args.json:
        print(json.dumps({"image": name, **record}))
        return
    print(name)
    for line in lines:
        print(f"  {line}")


def _classify(args: argparse.Namespace) -> None:
    from .classifier import Classifier

    with Classifier(args.artifact, **_options(args)) as model:
        results = model.classify([str(p) for p in args.images], top_k=args.top_k)
    for path, predictions in zip(args.images, results):
        record = {"predictions": [{"label": p.label, "id": p.id, "score": p.score} for p in predictions]}
        _emit(args, str(path), record, [f"{p.score:.4f}  {p.label} ({p.id})" for p in predictions])


def _embed(args: argparse.Namespace) -> None:
    from .features import FeatureExtractor

    with FeatureExtractor(args.artifact, **_options(args)) as model:
        pooled = model.extract([str(p) for p in args.images])
    for path, vector in zip(args.images, pooled):
        saved = _save(args.output, path, ".npy", lambda target, v=vector: np.save(target, v))
        record = {"dim": int(vector.shape[0]), "norm": float(np.linalg.norm(vector)), "saved": saved}
        _emit(args, str(path), record, [f"embedding dim {vector.shape[0]}, norm {record['norm']:.4f}"] + _saved(saved))


def _masked(args: argparse.Namespace) -> None:
    from .masked import MaskedImageModeler

    with MaskedImageModeler(args.artifact, **_options(args)) as model:
        masks = np.zeros((len(args.images), model.num_patches), dtype=bool)
        tokens = model.predict([str(p) for p in args.images], masks)
    for path, ids in zip(args.images, tokens):
        shown = " ".join(str(int(i)) for i in ids[:16])
        _emit(args, str(path), {"token_ids": ids.tolist()}, [f"{ids.shape[0]} visual tokens: {shown} ..."])


def _segment(args: argparse.Namespace) -> None:
    from .legend import legend_entries
    from .segmenter import Segmenter

    with Segmenter(args.artifact, **_options(args)) as model:
        images = parallel_map(load_image, [str(p) for p in args.images])  # decoded once: segmented and drawn
        results = model.segment(images)
        names = model.labels
    for path, image, result in zip(args.images, images, results):
        saved = _write_pictures(args, path, image, result.labels, names)
        shares = [{"id": e.id, "label": e.name, "fraction": e.fraction} for e in legend_entries(result.labels, names)]
        lines = [f"{s['fraction']:.3f}  {s['label']} ({s['id']})" for s in shares[: args.top_k]]
        record = {"classes": shares, "saved": saved[0] if saved else None, "pictures": saved}
        _emit(args, str(path), record, lines + [f"saved {target}" for target in saved])


def _write_pictures(args: argparse.Namespace, path: Path, image: np.ndarray, labels: np.ndarray, names) -> list[str]:
    """With --output: NAME.png (overlay + legend) and, with --side-by-side, NAME.side-by-side.png."""
    from .legend import write_segmentation_picture

    if args.output is None:
        return []
    pictures = [(".png", False)] + ([(".side-by-side.png", True)] if args.side_by_side else [])
    return [_save(args.output, path, suffix, lambda target, side=side: write_segmentation_picture(
        image, labels, target, id2label=names, side_by_side=side)) for suffix, side in pictures]


def _save(output: Path | None, image_path: Path, suffix: str, write) -> str | None:
    if output is None:
        return None
    output.mkdir(parents=True, exist_ok=True)
    target = output / (image_path.stem + suffix)
    write(target)
    return str(target)


def _saved(saved: str | None) -> list[str]:
    return [f"saved {saved}"] if saved else []


_HANDLERS = {
    "image-classification": _classify,
    "backbone": _embed,
    "masked-image-modeling": _masked,
    "semantic-segmentation": _segment,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.top_k < 1 or args.batch_size < 1 or args.threads < 0:
            print("beit-run: error: --top-k and --batch-size must be positive, --threads >= 0", file=sys.stderr)
            return 2
        if args.side_by_side and args.output is None:
            print("beit-run: error: --side-by-side writes pictures: add --output DIR", file=sys.stderr)
            return 2
        task = load_manifest(args.artifact, verify_files=False).task
        _HANDLERS[task](args)
    except BeitDeployError as error:
        print(f"beit-run: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
