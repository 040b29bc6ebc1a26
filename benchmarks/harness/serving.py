"""Serving throughput runs: the in-process task class against a local Triton server with N concurrent clients.

The task class and its remote client come from the task registry (``Task.runtime_class``,
``Task.remote_class``); a task that Triton serves engine-only has no remote client and is refused.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

from beit_runtime.errors import InputError
from beit_runtime.tasks import TASKS, task

from ..workload.photos import batch_of
from .serving_load import concurrent_run, in_process_run


def served_classes(task_name: str) -> tuple[str, str]:
    """(in-process class, remote class) names for ``task_name``; InputError when Triton serves it engine-only."""
    entry = task(task_name)
    if entry.remote_class is None:
        served = ", ".join(name for name, other in TASKS.items() if other.remote_class)
        raise InputError(f"task {task_name!r} is served engine-only (no ensemble, no remote client); the serving "
                         f"benchmark needs an artifact of one of: {served}")
    return entry.runtime_class, entry.remote_class


def start_server(repository: Path, log_path: Path):
    """A server on free loopback ports: tritonserver on PATH, else beit-serve --setup's (set up if missing)."""
    from beit_runtime.serving.install import setup
    from beit_runtime.serving.launcher import LaunchPlan, TritonProcess, free_port

    ports = {"http_port": free_port(), "grpc_port": free_port(), "repositories": (repository,)}
    found = shutil.which("tritonserver")
    if found:
        plan = LaunchPlan(binary=Path(found), cpu_only=False, **ports)
    else:
        layout = setup(log=lambda line: print(line, file=sys.stderr))
        plan = LaunchPlan(binary=layout.binary, backends=layout.backends, python_env=layout.env_dir, **ports)
    # the server writes to its own copy of the file descriptor: ours can be closed once it has started
    with open(log_path, "w", encoding="utf-8") as log:
        server = TritonProcess(plan, log=log)
    server.wait_ready(timeout_s=600)
    return server


def measure(args: argparse.Namespace, artifact: Path, photos: list[bytes], work: Path) -> dict[str, Any]:
    import beit_runtime
    import beit_runtime.remote as served
    from beit_export.triton import TritonRepositoryOptions, write_repository
    from beit_runtime.manifest import load_manifest

    task_name = load_manifest(artifact).task
    local_name, remote_name = served_classes(task_name)
    local_class = getattr(beit_runtime, local_name)
    with local_class(artifact, batch_size=args.batch_size, intra_op_threads=args.intra_op_threads) as model:
        batches = [batch_of(photos, args.batch_size)[i:] + photos[:i] for i in range(len(photos))]
        local = in_process_run(model, [b[: args.batch_size] for b in batches], seconds=args.seconds)
    options = TritonRepositoryOptions(name="bench", model_backend=args.model_backend, instances=args.instances,
                                      intra_op_threads=args.intra_op_threads,
                                      max_queue_delay_us=args.max_queue_delay_us)
    repository = write_repository(artifact, work / "repo", options=options)
    server = start_server(repository, work / "server.log")
    try:
        remote_class = getattr(served, remote_name)
        runs = {clients: concurrent_run(lambda: remote_class(server.http_url, "bench", max_in_flight=1), photos,
                                        clients=clients, seconds=args.seconds, server_pid=server.process.pid)
                for clients in sorted({int(c) for c in args.clients.split(",")})}
        batching = {model: server.model_statistics(model).get("batch_stats")
                    for model in ("bench_preprocess", "bench_engine")}
    finally:
        server.stop()
    return {"task": task_name, "local": local, "runs": runs, "options": vars(options), "batching": batching}
