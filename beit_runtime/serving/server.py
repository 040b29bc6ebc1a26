"""``beit-serve``: run Triton Inference Server on repositories written by ``beit-export triton``.

    beit-serve --setup                                   # once: server + python environment (install)
    beit-serve REPO [REPO...] [--http-port 8000] [--grpc-port 8001] [--host 127.0.0.1]

A ``tritonserver`` on PATH (an NGC container, a local build) is used when present (or ``--tritonserver
PATH``); its python models then use that server's python unless ``--python-env`` names a venv.
Otherwise the server and venv of ``--setup`` are used. A port of 0 means any free port. Once every
model is ready it prints one line ``beit-serve: ready http://HOST:PORT grpc HOST:PORT models: ...`` on
stdout (the server's own log goes to stderr or ``--log-file``); SIGTERM or Ctrl-C stops the server in
order and exits 0 when it stopped cleanly.

Exit codes: 0 stopped cleanly, 1 the server failed or stopped uncleanly, 2 usage (bad REPO or option),
3 not set up (run ``beit-serve --setup``).

Not watched: a python stub killed from outside (e.g. by the OOM killer) is not restarted by Triton
2.51 and readiness still says 200; run a liveness probe that makes a real inference (Kubernetes) and
restart on failure.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

from ..errors import ArtifactError, BeitDeployError, ServeSetupError
from .install import ServeLayout, serve_home, setup
from .launcher import LaunchPlan, TritonProcess, free_port, repository_paths

PROG = "beit-serve"
EXIT_OK, EXIT_SERVER, EXIT_USAGE, EXIT_SETUP = 0, 1, 2, 3


class _StopRequested(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("repositories", nargs="*", type=Path, metavar="REPO", help="model repositories written by beit-export triton")
    add("--setup", action="store_true",
        help=f"prepare the local server and its python environment in $BEIT_SERVE_HOME ({serve_home()})")
    add("--setup-timeout", type=float, default=900.0, help="seconds --setup may take in all (default 900)")
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    add("--http-port", type=int, default=8000, help="HTTP port (default 8000; 0: any free port)")
    add("--grpc-port", type=int, default=8001, help="gRPC port (default 8001; 0: any free port)")
    add("--metrics-port", type=int, help="serve Prometheus metrics on this port (default: metrics off)")
    add("--tritonserver", type=Path, help="tritonserver binary to use (default: tritonserver on PATH, else --setup's)")
    add("--python-env", type=Path, help="venv the python models run in (default: --setup's with its server)")
    add("--ready-timeout", type=float, default=300.0, help="seconds to wait for every model to load (default 300)")
    add("--log-file", type=Path, help="write the server's log here instead of stderr")
    add("--log-verbose", type=int, default=0, help="Triton's --log-verbose level (default 0)")
    return parser


def launch_plan(args: argparse.Namespace, layout: ServeLayout) -> LaunchPlan:
    """Which server and python to use (see the module docstring), on the requested ports."""
    found = args.tritonserver or (Path(found) if (found := shutil.which("tritonserver")) else None)
    ports = {name: getattr(args, name) or free_port(args.host if args.host != "0.0.0.0" else "127.0.0.1")
             for name in ("http_port", "grpc_port")}
    repositories = repository_paths(args.repositories)
    common = dict(repositories=repositories, host=args.host, metrics_port=args.metrics_port,
                  log_verbose=args.log_verbose, **ports)
    if found is not None:
        backends = Path(found).resolve().parent.parent / "backends"
        return LaunchPlan(binary=Path(found), backends=backends if backends.is_dir() else None,
                          python_env=args.python_env, cpu_only=False, **common)
    if not layout.server_ready() or not layout.env_ready():
        raise ServeSetupError(f"no tritonserver on PATH and none set up in {layout.home}: run `{PROG} --setup` first")
    return LaunchPlan(binary=layout.binary, backends=layout.backends, python_env=args.python_env or layout.env_dir,
                      **common)


def _raise_stop(signum: int, frame: object) -> None:
    raise _StopRequested


def serve(plan: LaunchPlan, *, ready_timeout_s: float, log_file: Path | None) -> int:
    """Run the server until SIGTERM/SIGINT (or until it exits), its log in ``log_file`` (default stderr);
    the exit code for beit-serve."""
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_file, "a", encoding="utf-8")) if log_file else sys.stderr
        return _serve_until_stopped(plan, ready_timeout_s=ready_timeout_s, log=log)


def _serve_until_stopped(plan: LaunchPlan, *, ready_timeout_s: float, log: IO[str]) -> int:
    previous = {signum: signal.signal(signum, _raise_stop) for signum in (signal.SIGTERM, signal.SIGINT)}
    server = None
    try:
        start = time.monotonic()
        server = TritonProcess(plan, log=log)
        models = server.wait_ready(timeout_s=ready_timeout_s)
        print(f"{PROG}: ready http://{server.http_url} grpc {server.grpc_url} models: {', '.join(models)} "
              f"({time.monotonic() - start:.1f} s)", flush=True)
        code = server.process.wait()
        print(f"{PROG}: tritonserver exited on its own with {code}", file=sys.stderr, flush=True)
        return EXIT_SERVER
    except _StopRequested:
        for signum in previous:
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not abandon the orderly stop
        code = server.stop() if server is not None else 0
        print(f"{PROG}: stopped (tritonserver exit code {code})", file=sys.stderr, flush=True)
        return EXIT_OK if code == 0 else EXIT_SERVER
    except BaseException:
        if server is not None:
            server.stop()
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    layout = ServeLayout(serve_home())
    try:
        if args.setup:
            setup(layout.home, timeout_s=args.setup_timeout, log=lambda line: print(line, file=sys.stderr, flush=True))
            if not args.repositories:
                return EXIT_OK
        if not args.repositories:
            build_parser().print_usage(sys.stderr)
            print(f"{PROG}: error: give a repository (or --setup)", file=sys.stderr)
            return EXIT_USAGE
        plan = launch_plan(args, layout)
        return serve(plan, ready_timeout_s=args.ready_timeout, log_file=args.log_file)
    except ServeSetupError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_SETUP
    except ArtifactError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except BeitDeployError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return EXIT_SERVER


if __name__ == "__main__":
    sys.exit(main())
