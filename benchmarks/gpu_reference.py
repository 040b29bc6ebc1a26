"""GPU fp16 parity and PyTorch-CUDA baselines, in two stages that share deterministic weights.

The GPU machine has PyTorch/CUDA but another torch release and no TensorRT, and only small files
travel to it, so the comparison is split:

1. ``--stage inputs`` (here): preprocess scikit-image's photos with the checkpoint's HF processor
   and draw random inputs; write them to ``--inputs`` (npz).
2. ``--stage device`` (GPU machine): build each model from its preset with weights drawn from
   numpy (identical on any torch release), run PyTorch CPU fp32 (reference), CUDA fp32 and CUDA
   fp16 on those inputs, time CUDA fp32/fp16 at several batch sizes; write outputs + timings.
3. ``--stage compare`` (here): build the same weights, export them with ``beit_export`` (fp32 and
   fp16 graphs, our parity gate included), run the graphs in ONNX Runtime on the same inputs, and
   compare everything with the device outputs. Prints a Markdown section for RESULTS.md.

Usage (from the repository root, installed or not): ``python -m benchmarks.gpu_reference --stage inputs --inputs
.devcarry/gpu_inputs.npz``, then on the device ``python -m benchmarks.gpu_reference --stage device --inputs ... --out
$OUT``, then ``python -m benchmarks.gpu_reference --stage compare --inputs ... --device-outputs DIR``.
"""

from __future__ import annotations

import argparse
import json
import zlib
from pathlib import Path

import numpy as np

MODELS = {
    "beit-base-224": ("microsoft/beit-base-patch16-224", "image-classification"),
    "beit-large-224": ("microsoft/beit-large-patch16-224", "image-classification"),
    "beit-base-ade-640": ("microsoft/beit-base-finetuned-ade-640-640", "semantic-segmentation"),
}
RANDOM_INPUTS = 4


def deterministic_weights(model, *, seed: int = 0):
    """Fill every parameter from numpy's generator keyed by the parameter name (torch-release independent)."""
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            rng = np.random.default_rng(seed + zlib.crc32(name.encode()))
            noise = rng.standard_normal(tuple(parameter.shape)).astype(np.float32)
            if name.endswith(("lambda_1", "lambda_2")):
                values = 0.1 + 0.01 * noise
            elif name.endswith("relative_position_bias_table"):
                values = 0.5 * noise
            elif parameter.ndim == 1 and name.endswith("weight"):
                values = 1.0 + 0.05 * noise
            else:
                values = 0.02 * noise
            parameter.copy_(torch.from_numpy(values))
    return model.float().eval()


def build_model(key: str):
    from beit_export.checkpoint import load_checkpoint

    model_id, task = MODELS[key]
    checkpoint = load_checkpoint(model_id, random_init=True, task=task)
    deterministic_weights(checkpoint.model)
    return checkpoint


def stage_inputs(path: Path) -> None:
    from transformers import AutoConfig

    from beit_export.checkpoint import load_preset, recipe_from_processor_config
    from beit_export.parity import hf_preprocess, sample_photos

    arrays = {}
    photos = [image for _, image in sample_photos()]
    for key, (model_id, _) in MODELS.items():
        preset = load_preset(model_id)
        config = AutoConfig.for_model(**preset.config)
        recipe = recipe_from_processor_config(preset.preprocessor_config, config=config)
        pixels = np.stack([hf_preprocess([p], recipe, model_type=config.model_type).numpy()[0] for p in photos])
        noise = np.random.default_rng(1).standard_normal((RANDOM_INPUTS, *pixels.shape[1:])).astype(np.float32)
        arrays[key] = np.concatenate([pixels, noise]).astype(np.float16 if "640" in key else np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    print({k: v.shape for k, v in arrays.items()})


def _cuda_time(fn, *, warmup: int = 10, iterations: int = 50) -> dict[str, float]:
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return {"p50_ms": float(np.median(times)), "p90_ms": float(np.percentile(times, 90))}


def _device_outputs(model, pixels: np.ndarray) -> dict[str, np.ndarray]:
    import torch

    x = torch.from_numpy(pixels.astype(np.float32))
    with torch.inference_mode():
        cpu = model(pixel_values=x).logits.numpy()
        gpu = model.cuda()
        cuda32 = gpu(pixel_values=x.cuda()).logits.float().cpu().numpy()
        gpu16 = gpu.half()
        cuda16 = gpu16(pixel_values=x.cuda().half()).logits.float().cpu().numpy()
        gpu16.float().cpu()
    return {"cpu_fp32": cpu, "cuda_fp32": cuda32, "cuda_fp16": cuda16}


def _device_timings(model, shape: tuple[int, ...], batches: list[int]) -> list[dict]:
    import torch

    rows = []
    for dtype_name, dtype in (("fp32", torch.float32), ("fp16", torch.float16)):
        gpu = model.cuda().to(dtype)
        for batch in batches:
            x = torch.randn(batch, *shape, device="cuda", dtype=dtype)
            with torch.inference_mode():
                timing = _cuda_time(lambda gpu=gpu, x=x: gpu(pixel_values=x))
            rows.append({"precision": dtype_name, "batch": batch, **timing,
                         "images_per_s": batch / timing["p50_ms"] * 1000})
        gpu.float().cpu()
        torch.cuda.empty_cache()
    return rows


def stage_device(inputs: Path, out: Path, keys: list[str]) -> None:
    import torch

    torch.set_num_threads(16)
    data = np.load(inputs)
    report = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__,
              "capability": ".".join(map(str, torch.cuda.get_device_capability(0))), "models": {}}
    for key in keys:
        checkpoint = build_model(key)
        model = checkpoint.model
        model.config._attn_implementation = "sdpa"
        outputs = _device_outputs(model, data[key])
        np.savez(out / f"outputs_{key}.npz", **outputs)
        batches = [1, 4] if "640" in key else [1, 8, 32]
        report["models"][key] = {"timings": _device_timings(model, data[key].shape[1:], batches)}
        print(key, json.dumps(report["models"][key]), flush=True)
        del model, checkpoint
    (out / "device_report.json").write_text(json.dumps(report, indent=2))


def _rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-12))


def _agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a.argmax(axis=1) == b.argmax(axis=1)))


def _ort_outputs(artifact: Path, variant: str, pixels: np.ndarray) -> np.ndarray:
    from beit_runtime.engines import load_engine
    from beit_runtime.manifest import load_manifest

    manifest = load_manifest(artifact, verify_files=False)
    with load_engine(manifest.graph_path(variant), providers=["CPUExecutionProvider"]) as engine:
        return np.concatenate([engine.run({"pixel_values": pixels[i:i + 1]})["logits"] for i in range(len(pixels))])


def _compare_row(name: str, candidate: np.ndarray, reference: np.ndarray) -> str:
    return f"| {name} | {_rel_l2(candidate, reference):.2e} | {np.abs(candidate - reference).max():.2e} | " \
           f"{_agreement(candidate, reference):.3f} |"


def stage_compare(inputs: Path, device_outputs: Path, work: Path, key: str, *, onnx: bool = True) -> None:
    from beit_export.options import ExportOptions
    from beit_export.pipeline import export_artifact

    pixels = np.load(inputs)[key].astype(np.float32)
    device = np.load(device_outputs / f"outputs_{key}.npz")
    rows = [("PyTorch CUDA fp32", device["cuda_fp32"]), ("PyTorch CUDA fp16", device["cuda_fp16"])]
    if onnx:
        artifact = work / key
        if not artifact.exists():
            export_artifact(build_model(key), output=artifact, options=ExportOptions(fp16=True),
                            progress=lambda m: print(m, flush=True))
        ort16 = _ort_outputs(artifact, "fp16", pixels)
        rows += [("our fp32 ONNX, ORT CPU (this machine)", _ort_outputs(artifact, "fp32", pixels)),
                 ("our fp16 ONNX, ORT CPU (this machine)", ort16)]
    reference = device["cpu_fp32"]
    print(f"\n{key}: {len(pixels)} inputs ({len(pixels) - RANDOM_INPUTS} photos + {RANDOM_INPUTS} random), "
          "reference = PyTorch fp32 on the GPU machine's CPU\n")
    print("| candidate | rel-L2 | max-abs | top-1 / pixel agreement |\n|---|---|---|---|")
    for name, values in rows:
        print(_compare_row(name, values, reference))
    if onnx:
        print(_compare_row("our fp16 ONNX vs PyTorch CUDA fp16", ort16, device["cuda_fp16"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=("inputs", "device", "compare"), required=True)
    parser.add_argument("--inputs", type=Path, default=Path(".devcarry/gpu_inputs.npz"))
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/gpu"))
    parser.add_argument("--device-outputs", type=Path)
    parser.add_argument("--model", default="beit-base-224", choices=sorted(MODELS))
    parser.add_argument("--device-models", default=",".join(MODELS), help="comma-separated keys for --stage device")
    parser.add_argument("--no-onnx", action="store_true", help="compare stage: only the device outputs")
    args = parser.parse_args(argv)
    if args.stage == "inputs":
        stage_inputs(args.inputs)
    elif args.stage == "device":
        args.out.mkdir(parents=True, exist_ok=True)
        stage_device(args.inputs, args.out, args.device_models.split(","))
    else:
        stage_compare(args.inputs, args.device_outputs, args.out, args.model, onnx=not args.no_onnx)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
