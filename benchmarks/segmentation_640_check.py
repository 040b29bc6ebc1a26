"""Check the exported BEiT-base + UperNet graph against PyTorch at the real 640x640 size.

A random-init model of microsoft/beit-base-finetuned-ade-640-640, built from the project's preset
exactly as ``beit-export --model microsoft/beit-base-finetuned-ade-640-640 --random-init`` builds it
(patch 16, relative position bias, out_indices [3, 5, 7, 11], pool_scales (1, 2, 3, 6): the pyramid
pooling sees a 20x20 map, uneven for scales 3 and 6; auxiliary FCN head present in PyTorch, absent
from the graph; preprocessing from the preset's processor config) is exported with the project's own
``make_export_module`` + ``export_onnx`` (example batch 2) and run once on ONNX Runtime (CPU) on a real
photo. Reported: logits max-abs difference (absolute and relative to the logits' spread), and label
agreement with ``post_process_semantic_segmentation`` at the photo's original size, through the fused
"postprocess" graph and through the numpy post-processing.

Heavy (about 2 TFLOPs per image plus export): run it by hand, once:
    python benchmarks/segmentation_640_check.py [--workdir DIR] [--image chelsea]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from skimage import data as skimage_data

from beit_export.checkpoint import load_checkpoint, processor_from_recipe
from beit_export.graph import build_segmentation_postprocess, export_onnx
from beit_export.modeling import make_export_module
from beit_export.tasks import TASKS
from beit_runtime.engines import load_engine
from beit_runtime.sliding import upsample_argmax

MODEL_ID = "microsoft/beit-base-finetuned-ade-640-640"
IMAGE_SIZE = 640


def export(model: torch.nn.Module, path: Path) -> float:
    start = time.perf_counter()
    module = make_export_module(model, task="semantic-segmentation", dynamic_resolution=False)
    example = (torch.randn(2, 3, IMAGE_SIZE, IMAGE_SIZE, generator=torch.Generator().manual_seed(1)),)
    export_onnx(module, task_spec=TASKS["semantic-segmentation"], path=path, example_inputs=example,
                dynamic_resolution=False)
    return time.perf_counter() - start


def compare(checkpoint, graph_path: Path, postprocess_path: Path, image: np.ndarray) -> dict:
    model, image_processor = checkpoint.model, processor_from_recipe(checkpoint.preprocessing)
    pixels = image_processor(images=image, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        outputs = model(pixel_values=pixels)
    target = [image.shape[:2]]
    expected = image_processor.post_process_semantic_segmentation(outputs, target_sizes=target)[0].numpy()
    reference = outputs.logits.numpy()
    with load_engine(graph_path, providers=["CPUExecutionProvider"]) as engine:
        logits = engine.run({"pixel_values": pixels.numpy()})["logits"]
    with load_engine(postprocess_path, providers=["CPUExecutionProvider"]) as engine:
        fused = engine.run({"logits": logits, "target_size": np.asarray(target[0], dtype=np.int64)})["labels"][0]
    host = upsample_argmax(logits[0], target[0])
    difference = float(np.abs(logits - reference).max())
    return {
        "image_shape": list(image.shape[:2]),
        "logits_shape": list(logits.shape),
        "logits_max_abs": difference,
        "logits_std": float(reference.std()),
        "logits_max_abs_over_std": difference / float(reference.std()),
        "label_agreement_fused": float((fused == expected).mean()),
        "label_agreement_numpy": float((host == expected).mean()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=None,
                        help="folder for the .onnx files (default: a temp folder)")
    parser.add_argument("--image", default="chelsea", help="skimage.data photo name (default: chelsea)")
    parser.add_argument("--seed", type=int, default=0, help="random-init seed (default: 0)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="seg640-"))
    workdir.mkdir(parents=True, exist_ok=True)
    checkpoint = load_checkpoint(MODEL_ID, random_init=True, seed=args.seed)
    seconds = export(checkpoint.model, workdir / "model.onnx")
    build_postprocess = build_segmentation_postprocess(num_labels=int(checkpoint.config.num_labels))
    (workdir / "postprocess.onnx").write_bytes(build_postprocess.SerializeToString())
    image = getattr(skimage_data, args.image)()
    report = {"export_seconds": round(seconds, 1), "image": args.image}
    report.update(compare(checkpoint, workdir / "model.onnx", workdir / "postprocess.onnx", image))
    (workdir / "model.onnx").unlink()  # 600 MB
    report["passed"] = (
        report["logits_max_abs_over_std"] <= 1e-4
        and min(report["label_agreement_fused"], report["label_agreement_numpy"]) >= 0.999
    )
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    raise SystemExit(0 if main()["passed"] else 1)
