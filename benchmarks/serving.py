"""Serving throughput: Triton end to end (1, 4, 8 concurrent clients) against the in-process runtime at batch 8.

    python -m benchmarks.serving --artifact-dir artifacts/beit-base          # an existing artifact
    python benchmarks/serving.py --artifact-dir artifacts/beit-base          # the same, run as a script
    python -m benchmarks.serving --model microsoft/beit-base-patch16-224     # export it (random init, cached)
    python -m benchmarks.serving --quick                                     # smoke test: tiny model, 3 s runs

Both sides get the same encoded photos (JPEG/PNG bytes of scikit-image's samples) and do the whole
job: decode, preprocess, graph, post-process. In-process: the task class with ``batch_size=8`` called
on lists of 8 images. Triton: ``beit-export triton`` writes the repository (``--model-backend python``
by default: the local server has no onnxruntime backend), ``beit-serve``'s launcher starts the server
(a ``tritonserver`` on PATH, else the one of ``beit-serve --setup``), and N threads each send one image
per request with the Remote* client over HTTP, for a fixed time. Goal: with 8 clients, >= 0.8x the
in-process throughput. The report names what bounds the ratio from the measured CPU time per image
on each side (client, server) and the cores busy. Writes OUTPUT_DIR/serving.json and serving.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from beit_runtime.manifest import is_artifact
from benchmarks.harness.serving import measure
from benchmarks.report.serving import markdown, summarize
from benchmarks.workload.machine import describe_machine
from benchmarks.workload.photos import write_photos


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--artifact-dir", type=Path, help="benchmark this artifact (default: export --model)")
    add("--model", default="microsoft/beit-base-patch16-224",
        help="preset to export with random weights when no --artifact-dir")
    add("--clients", default="1,4,8", help="concurrent client counts (default 1,4,8)")
    add("--seconds", type=float, default=20.0, help="seconds per measurement (default 20)")
    add("--batch-size", type=int, default=8, help="in-process batch size (default 8)")
    add("--model-backend", default="python", choices=("python", "onnxruntime"),
        help="NAME_engine backend (default python)")
    add("--instances", type=int, default=1, help="instances of each Triton model (default 1)")
    add("--intra-op-threads", type=int, default=0, help="ONNX Runtime threads, both sides (default 0: all cores)")
    add("--max-queue-delay-us", type=int, default=2000)
    add("--output-dir", type=Path, default=Path("benchmarks/out/serving"))
    add("--quick", action="store_true", help="smoke test: the tiny-beit model, 3 s per measurement")
    return parser


def artifact_for(args: argparse.Namespace) -> Path:
    if args.artifact_dir:
        return args.artifact_dir.resolve()
    from benchmarks.workload.prepare import export_into_cache, slug

    model = "tiny-beit" if args.quick else args.model
    folder = args.output_dir.resolve() / "cache" / slug(model)
    if not is_artifact(folder / "artifact"):
        export_into_cache(model, folder, variants={"fp32"}, int8_mode="dynamic")
    return folder / "artifact"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.seconds = min(args.seconds, 3.0)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    artifact = artifact_for(args)
    photos = [path.read_bytes() for path in write_photos(args.output_dir.resolve() / "photos")]
    machine = describe_machine(threads=args.intra_op_threads)
    with tempfile.TemporaryDirectory(prefix="beit-serving-") as work:
        result = measure(args, artifact, photos, Path(work))
    summary = summarize(args, result, machine)
    (args.output_dir / "serving.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    report = markdown(summary, artifact)
    (args.output_dir / "serving.md").write_text(report, encoding="utf-8")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
