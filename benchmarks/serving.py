"""Serving throughput: Triton end to end (1, 4, 8 concurrent clients) against the in-process runtime at batch 8.

    python benchmarks/serving.py --artifact-dir artifacts/beit-base          # an existing artifact
    python benchmarks/serving.py --model microsoft/beit-base-patch16-224     # export it (random init, cached)
    python benchmarks/serving.py --quick                                     # smoke test: tiny model, 3 s runs

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
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.machine import describe_machine  # noqa: E402
from benchmarks.photos import batch_of, write_photos  # noqa: E402
from benchmarks.report import table  # noqa: E402
from benchmarks.serving_load import concurrent_run, in_process_run  # noqa: E402

GOAL_RATIO = 0.8
TASKS = {"image-classification": ("Classifier", "RemoteClassifier"), "semantic-segmentation": ("Segmenter", "RemoteSegmenter"),
         "backbone": ("FeatureExtractor", "RemoteFeatureExtractor")}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--artifact-dir", type=Path, help="benchmark this artifact (default: export --model)")
    add("--model", default="microsoft/beit-base-patch16-224", help="preset to export with random weights when no --artifact-dir")
    add("--clients", default="1,4,8", help="concurrent client counts (default 1,4,8)")
    add("--seconds", type=float, default=20.0, help="seconds per measurement (default 20)")
    add("--batch-size", type=int, default=8, help="in-process batch size (default 8)")
    add("--model-backend", default="python", choices=("python", "onnxruntime"), help="NAME_engine backend (default python)")
    add("--instances", type=int, default=1, help="instances of each Triton model (default 1)")
    add("--intra-op-threads", type=int, default=0, help="ONNX Runtime threads, both sides (default 0: all cores)")
    add("--max-queue-delay-us", type=int, default=2000)
    add("--output-dir", type=Path, default=Path("benchmarks/out/serving"))
    add("--quick", action="store_true", help="smoke test: the tiny-beit model, 3 s per measurement")
    return parser


def artifact_for(args: argparse.Namespace) -> Path:
    if args.artifact_dir:
        return args.artifact_dir.resolve()
    from benchmarks.prepare import export_into_cache, slug

    model = "tiny-beit" if args.quick else args.model
    folder = args.output_dir.resolve() / "cache" / slug(model)
    if not (folder / "artifact" / "manifest.json").is_file():
        export_into_cache(model, folder, variants={"fp32"}, int8_mode="dynamic")
    return folder / "artifact"


def start_server(repository: Path, log_path: Path):
    """A server on free loopback ports: tritonserver on PATH, else beit-serve --setup's (set up if missing)."""
    from beit_runtime.triton.install import setup
    from beit_runtime.triton.launcher import LaunchPlan, TritonProcess, free_port

    ports = dict(http_port=free_port(), grpc_port=free_port(), repositories=(repository,))
    found = shutil.which("tritonserver")
    if found:
        plan = LaunchPlan(binary=Path(found), cpu_only=False, **ports)
    else:
        layout = setup(log=lambda line: print(line, file=sys.stderr))
        plan = LaunchPlan(binary=layout.binary, backends=layout.backends, python_env=layout.env_dir, **ports)
    server = TritonProcess(plan, log=open(log_path, "w", encoding="utf-8"))
    server.wait_ready(timeout_s=600)
    return server


def measure(args: argparse.Namespace, artifact: Path, photos: list[bytes], work: Path) -> dict:
    import beit_runtime
    import beit_runtime.triton as served
    from beit_export.triton import TritonRepositoryOptions, write_repository
    from beit_runtime.manifest import load_manifest

    task = load_manifest(artifact).task
    local_name, remote_name = TASKS[task]
    with getattr(beit_runtime, local_name)(artifact, batch_size=args.batch_size, intra_op_threads=args.intra_op_threads) as model:
        batches = [batch_of(photos, args.batch_size)[i:] + photos[:i] for i in range(len(photos))]
        local = in_process_run(model, [b[: args.batch_size] for b in batches], seconds=args.seconds)
    options = TritonRepositoryOptions(name="bench", model_backend=args.model_backend, instances=args.instances,
                                      intra_op_threads=args.intra_op_threads, max_queue_delay_us=args.max_queue_delay_us)
    repository = write_repository(artifact, work / "repo", options=options)
    server = start_server(repository, work / "server.log")
    try:
        remote_class = getattr(served, remote_name)
        runs = {clients: concurrent_run(lambda: remote_class(server.http_url, "bench", max_in_flight=1), photos,
                                        clients=clients, seconds=args.seconds, server_pid=server.process.pid)
                for clients in sorted({int(c) for c in args.clients.split(",")})}
        batching = {model: server.model_statistics(model).get("batch_stats") for model in ("bench_preprocess", "bench_engine")}
    finally:
        server.stop()
    return {"task": task, "local": local, "runs": runs, "options": vars(options), "batching": batching}


def bound_notes(summary: dict, *, cores: int) -> list[str]:
    """What limits the 8-client ratio, from the measured CPU time per image on each side."""
    local, runs = summary["in_process"], summary["triton"]
    top = runs[str(max(int(c) for c in runs))]
    local_cpu = local["cpu_ms_per_image"]["client"]
    served_cpu = top["cpu_ms_per_image"]["client"] + top["cpu_ms_per_image"]["server"]
    notes = [f"CPU per image: in-process {local_cpu:.1f} ms; Triton {served_cpu:.1f} ms "
             f"(server {top['cpu_ms_per_image']['server']:.1f} incl. stubs, clients {top['cpu_ms_per_image']['client']:.1f}).",
             f"Cores busy: in-process {local['cores_busy']:.2f}, Triton {top['cores_busy']:.2f} of {cores}."]
    if top["cores_busy"] >= 0.85 * cores:
        notes.append("Triton is CPU-bound: every core is busy, so the ratio is about in-process CPU per image / Triton's "
                     "(the extra is HTTP, the ensemble's copies between three python stubs, and the clients on the same machine).")
    else:
        notes.append("Triton leaves cores idle: the pipeline is bound by a serial step (one instance per model, the dynamic "
                     "batcher's delay, or the python stubs); more --instances or clients would raise it.")
    return notes


def summarize(args: argparse.Namespace, result: dict, machine: dict) -> dict:
    cores = machine["logical_cores"]
    local = result["local"].summary(cores=cores)
    runs = {str(c): run.summary(cores=cores) for c, run in result["runs"].items()}
    top = runs[str(max(result["runs"]))]
    ratio = top["throughput_ips"] / local["throughput_ips"]
    summary = {"machine": machine, "task": result["task"], "in_process": {**local, "batch_size": args.batch_size},
               "triton": runs, "options": result["options"], "batching": result["batching"],
               "ratio_at_max_clients": round(ratio, 3), "goal_ratio": GOAL_RATIO,
               "goal": "met" if ratio >= GOAL_RATIO else "missed", "seconds_per_measurement": args.seconds}
    summary["bounds"] = bound_notes(summary, cores=cores)
    return summary


def markdown(summary: dict, artifact: Path) -> str:
    local, runs = summary["in_process"], summary["triton"]
    rows = [[f"in-process, batch {local['batch_size']}", local["throughput_ips"], local["p50_ms"], local["p99_ms"], "-", local["cores_busy"]]]
    rows += [[f"Triton, {c} client(s)", r["throughput_ips"], r["p50_ms"], r["p99_ms"], round(r["throughput_ips"] / local["throughput_ips"], 3),
              r["cores_busy"]] for c, r in runs.items()]
    machine = summary["machine"]
    return "\n\n".join([
        f"# Serving benchmark ({summary['task']}, `{artifact}`)",
        f"{machine['cpu']}, {machine['logical_cores']} logical cores, load at start {machine['load_average_at_start']}; "
        f"{summary['seconds_per_measurement']:.0f} s per measurement; options {summary['options']}.",
        table(["run", "images/s", "p50 ms", "p99 ms", "x in-process", "cores busy"], rows),
        f"Ratio with {max(int(c) for c in runs)} clients: **{summary['ratio_at_max_clients']:.3f}x** "
        f"(goal >= {summary['goal_ratio']}x: {summary['goal']}). In-process p50/p99 are per batch of {local['batch_size']}.",
        "What bounds it:\n" + "\n".join(f"- {note}" for note in summary["bounds"]),
        f"Dynamic batches formed (batch size: executions): {json.dumps(summary['batching'])}",
    ]) + "\n"


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
