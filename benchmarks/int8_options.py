"""int8 options for CPUs with and without VNNI, measured against fp32 on the same backend (issue 17 item 4).

Builds int8 candidates from one fp32 ONNX graph (``benchmarks.workload.int8_variants``: ORT dynamic u8s8 with
and without 7-bit / per-channel weights, u8u8, the exporter's static QDQ, static QOperator, NNCF on the ONNX
graph and on OpenVINO's IR), checks each against fp32 (logits rel-L2, top-1 agreement; the exporter's int8
tolerances) and times it against fp32 on the same backend in interleaved rounds (median speed-up and IQR).
ORT candidates run on ONNX Runtime at this CPU's best ISA (its kernels cannot be capped from outside);
OpenVINO candidates run uncapped and, on a CPU beyond AVX2, in a child with oneDNN capped at AVX2
(``ONEDNN_MAX_CPU_ISA=AVX2``: the instructions of an AVX2-only CPU, not its micro-architecture).

``python -m benchmarks.int8_options [--quick] [--write-results [PATH]]``. Needs a quiet machine for figures.
``--write-results`` also writes the table into the RESULTS.md beside PATH, in a block named after PATH: one
results file per CPU (RESULTS-int8-options.json: AMD EPYC Zen 4; RESULTS-int8-options-avx2-only.json: an
AVX2-only AMD EPYC).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from beit_runtime.output_files import write_atomically
from beit_runtime.parity_gate import BEYOND_AVX2
from beit_runtime.planning.machine import library_versions
from benchmarks.harness.arguments import names_in, positive_ints
from benchmarks.report.blocks import replace_block
from benchmarks.workload.int8_variants import RECIPES, Candidate, build_candidates
from benchmarks.workload.prepare import prepare_model

DEFAULT_MODEL = "microsoft/beit-base-patch16-224"
DEFAULT_RESULTS = Path(__file__).with_name("RESULTS-int8-options.json")
Group = tuple[str, str, list[Candidate]]  # backend, ISA cap, candidates: one child run
_LIBRARIES = ("onnxruntime", "openvino", "nncf", "onnx", "numpy", "torch")


def _log(text: str) -> None:
    print(f"[int8-options] {text}", file=sys.stderr, flush=True)


def cpu_record() -> dict[str, Any]:
    """CPU model and the flags that decide int8 kernels (from lscpu)."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        text = ""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    keep = [f for f in flags if f.startswith(("avx", "amx", "fma", "f16c")) or "vnni" in f]
    return {"model": fields.get("Model name", platform.processor()).strip(),
            "family_model_stepping": [fields.get(k, "").strip() for k in ("CPU family", "Model", "Stepping")],
            "cpus": fields.get("CPU(s)", "").strip(), "flags": keep,
            "beyond_avx2": any(f in flags for f in BEYOND_AVX2), "has_avx2": "avx2" in flags}


def _photos(hf_dir: str) -> np.ndarray:
    """The exporter's calibration images: scikit-image photos through the checkpoint's HF processor."""
    from transformers import AutoImageProcessor

    from beit_export.parity.photos import sample_photos

    processor = AutoImageProcessor.from_pretrained(hf_dir)  # type: ignore[no-untyped-call]
    return np.asarray(processor([image for _, image in sample_photos()], return_tensors="np")["pixel_values"],
                      dtype=np.float32)


def _inputs(photos: np.ndarray, folder: Path, *, batch_sizes: tuple[int, ...]) -> Path:
    """Parity batches (the photos; random normal pixels) and timing batches, saved for the children."""
    noise = np.random.default_rng(0).standard_normal((8, *photos.shape[1:])).astype(np.float32)
    arrays = {"parity_photos": photos, "parity_random": noise}
    for batch in batch_sizes:
        arrays[f"time_b{batch}"] = np.resize(photos, (batch, *photos.shape[1:])).astype(np.float32)
    path = folder / "inputs.npz"
    np.savez(path, **arrays)  # type: ignore[arg-type]
    return path


def _groups(candidates: list[Candidate], cpu: dict[str, Any]) -> list[Group]:
    """(backend, isa cap, candidates) per child run."""
    ort = [c for c in candidates if c.backend == "onnxruntime"]
    ov = [c for c in candidates if c.backend == "openvino"]
    groups = [("onnxruntime", "none (this CPU's best)", ort), ("openvino", "none (this CPU's best)", ov)]
    if cpu["beyond_avx2"] and cpu["has_avx2"]:
        groups.append(("openvino", "AVX2", ov))
    return [g for g in groups if g[2]]


def _run_group(backend: str, cap: str, candidates: list[Candidate], *, fp32: Path, inputs: Path,
               settings: dict[str, Any], folder: Path) -> dict[str, Any]:
    job = {"backend": backend, "fp32": str(fp32), "inputs": str(inputs), **settings,
           "candidates": {c.name: c.path for c in candidates if c.path}}
    request, answer = folder / f"job-{backend}-{cap[:4]}.json", folder / f"answer-{backend}-{cap[:4]}.json"
    request.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, **({"ONEDNN_MAX_CPU_ISA": "AVX2"} if cap == "AVX2" else {})}
    _log(f"timing {len(job['candidates'])} candidates on {backend} (ISA cap: {cap})")
    done = subprocess.run([sys.executable, "-m", "benchmarks.workload.int8_timing", str(request), str(answer)],
                          env=env, capture_output=True, text=True, check=False,
                          cwd=Path(__file__).resolve().parent.parent)
    if done.returncode != 0:
        reason = f"the {backend} child ended with exit status {done.returncode}: {done.stderr.strip()[-400:]}"
        return {c.name: {"error": reason} for c in candidates}
    answered: dict[str, Any] = json.loads(answer.read_text(encoding="utf-8"))
    return answered


def verdict(record: dict[str, Any]) -> str:
    """'fails parity', 'faster than fp32 here' (faster at every batch size) or 'slower than fp32 here'."""
    if "error" in record:
        return "not measured"
    if not record["parity"]["passed"]:
        return "fails parity"
    faster = all(t["speedup_median"] > 1.0 for t in record["timing"].values())
    return "faster than fp32 here" if faster else "slower than fp32 here"


def _rows(candidates: list[Candidate], groups: list[Group], measured: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for (backend, cap, members), results in zip(groups, measured, strict=True):
        for c in members:
            record = {"error": c.error} if c.error else results.get(c.name, {"error": "not run"})
            rows.append({"candidate": c.name, "backend": backend, "isa_cap": cap, "description": c.description,
                         **record, "verdict": verdict(record)})
    return rows


def markdown(rows: list[dict[str, Any]], cpu: dict[str, Any]) -> str:
    """The results as a Markdown table (speed-up = fp32 time / candidate time: above 1 is faster)."""
    batches = sorted({b for r in rows for b in r.get("timing", {})}, key=lambda b: int(b[1:]))
    head = ["candidate", "backend", "ISA cap", "rel-L2", "top-1", *[f"speed-up {b} (IQR)" for b in batches],
            "verdict"]
    lines = [f"CPU: {cpu['model']}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        parity = r.get("parity", {})
        cells = [r["candidate"], r["backend"], r["isa_cap"], str(parity.get("rel_l2", "-")),
                 str(parity.get("top1_agreement", "-"))]
        for b in batches:
            t = r.get("timing", {}).get(b)
            cells.append(f"{t['speedup_median']:.2f}x ({t['speedup_iqr'][0]:.2f}-{t['speedup_iqr'][1]:.2f})"
                         if t else "-")
        lines.append("| " + " | ".join([*cells, r["verdict"] + (f": {r['error'][:80]}" if "error" in r else "")])
                     + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help=f"preset id, random init (default {DEFAULT_MODEL}; tiny-beit with --quick)")
    parser.add_argument("--quick", action="store_true", help="smoke test: tiny-beit, 2 rounds, few iterations")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 7; 2 with --quick)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    parser.add_argument("--batch-sizes", type=positive_ints, default=(1, 8), help="comma-separated (default 1,8)")
    parser.add_argument("--candidates", type=names_in(RECIPES, what="candidates"), default=tuple(RECIPES),
                        help=f"comma-separated subset of {','.join(RECIPES)} (default: all)")
    parser.add_argument("--max-rel-l2", type=float,
                        help="a stricter logits rel-L2 limit on top of the exporter's int8 tolerances (default none)")
    parser.add_argument("--cache-dir", type=Path, default=Path("benchmarks/out/cache"))
    parser.add_argument("--write-results", nargs="?", type=Path, const=DEFAULT_RESULTS,
                        help=f"write the JSON results (default path {DEFAULT_RESULTS.name} in benchmarks/)")
    return parser


def run(args: argparse.Namespace) -> dict[str, Any]:
    model = args.model or ("tiny-beit" if args.quick else DEFAULT_MODEL)
    rounds = args.rounds or (2 if args.quick else 7)
    if rounds < 1:
        raise SystemExit(f"--rounds must be at least 1, got {rounds}")
    iterations = {b: (1 if args.quick else max(2, 10 // b)) for b in args.batch_sizes}
    info = prepare_model(model, cache_dir=args.cache_dir.resolve(), variants={"fp32"})
    fp32 = Path(info.artifact_dir) / "model.onnx"
    cpu = cpu_record()
    with tempfile.TemporaryDirectory(prefix="int8-options-") as scratch:
        folder = Path(scratch)
        photos = _photos(info.hf_dir)
        calibration = [{"pixel_values": photos[i:i + 1]} for i in range(len(photos))]
        candidates = build_candidates(fp32, folder / "graphs", calibration=calibration, names=args.candidates,
                                      progress=_log)
        inputs = _inputs(photos, folder, batch_sizes=args.batch_sizes)
        settings = {"threads": args.threads, "rounds": rounds, "iterations": iterations,
                    "max_rel_l2": args.max_rel_l2}
        groups = _groups(candidates, cpu)
        measured = [_run_group(b, cap, members, fp32=fp32, inputs=inputs, settings=settings, folder=folder)
                    for b, cap, members in groups]
    return {"model": model, "cpu": cpu, "versions": library_versions(_LIBRARIES), "threads": args.threads,
            "rounds": rounds, "iterations_per_round": iterations,
            "speedup": "fp32 time / candidate time, per round; >1 is faster",
            "isa_cap_note": "AVX2-capped OpenVINO runs use oneDNN's AVX2 kernels on this CPU: the instructions of "
                            "an AVX2-only CPU, not its micro-architecture",
            "candidates": _rows(candidates, groups, measured)}


def write_results(path: Path, results: dict[str, Any]) -> None:
    """``path`` (JSON) and its block in the RESULTS.md beside it, the block's markers named after the file, so
    each CPU's results file (``--write-results PATH``) has its own table there."""
    write_atomically(path, json.dumps(results, indent=1) + "\n")  # a kill keeps the old file
    cpu = results["cpu"]
    family, model, _ = cpu["family_model_stepping"]
    heading = (f"{results['model']} (random weights), {results['threads']} threads, {results['rounds']} interleaved "
               f"rounds; CPU family {family} model {model}, flags {', '.join(cpu['flags'])}; "
               + ", ".join(f"{name} {version}" for name, version in results["versions"].items()) + ".")
    replace_block(path.with_name("RESULTS.md"), begin=f"<!-- {path.stem}:begin -->", end=f"<!-- {path.stem}:end -->",
                  body=f"{heading}\n\n{markdown(results['candidates'], cpu)}\n",
                  title=f"int8 options on {cpu['model']} (family {family} model {model}; {path.name}, issue 17)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = run(args)
    print(markdown(results["candidates"], results["cpu"]))
    if args.write_results:
        write_results(args.write_results, results)
        _log(f"wrote {args.write_results} and its block in {args.write_results.with_name('RESULTS.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
