"""``beit-serve``: run Triton Inference Server on repositories written by ``beit-export triton``.

    beit-serve --setup                                   # once: server + python environment (install)
    beit-serve REPO [REPO...] [--http-port 8000] [--grpc-port 8001] [--host 127.0.0.1]
    beit-serve --check http://127.0.0.1:8000 [--check-timeout 5] [--check-model NAME]   # startup probe
    beit-serve --check http://127.0.0.1:8000 --check-live                              # liveness probe

``--check URL`` (``check``) asks a running server for one real inference per ensemble (or per
``--check-model``) within ``--check-timeout`` seconds in all, after checking that it is live and every
model is READY; it prints ``beit-serve: check ok: MODEL (N ms), ...`` or ``beit-serve: check failed:
REASON`` and exits 0 or 1 (a Kubernetes exec startup probe). ``--check-live`` stops before the
inference: live and every model READY, never queued behind requests (a liveness probe that a busy
server passes).

A ``tritonserver`` on PATH (an NGC container, a local build) is used when present (or ``--tritonserver
PATH``); its python models then use that server's python unless ``--python-env`` names a venv.
Otherwise the server and venv of ``--setup`` are used; a repository whose models need a backend that
server lacks (``--setup``'s has only the python backend) is refused before it starts (exit 2), and so
are (``preflight``) a model name in two of the repositories, a port another process listens on and a
``--host`` that is not an IP address (IPv6 is written as Triton takes it: ``addresses``). Ports are
0-65535 (``--metrics-port`` 1-65535); 0 means any free port. Once every model is ready it prints one
line ``beit-serve: ready http://HOST:PORT grpc HOST:PORT models: ...`` on stdout (the server's own log
goes to stderr or ``--log-file``). Models are loaded with Triton's explicit model control, all at start;
one that fails to load stops the server (beit-serve exits 1, its error line repeating the server's
"failed to ..." / "error: ..." lines: ``triton_log``).

Stop (SIGTERM, as Kubernetes sends, or Ctrl-C): readiness (``/v2/health/ready``) turns false at once,
the requests in flight finish, new ones get an error, then the server stops; beit-serve exits 0 within
``--grace-period`` seconds (default 30, Kubernetes' default terminationGracePeriodSeconds; give the
pod's value). Connected keep-alive clients hold the last phase for at most 2-5 s (Triton's exit timeout:
a quarter of the grace period), and 3 s more are kept for the server to exit or be killed, so the
requests in flight have the grace period less the exit timeout and 3 s to finish (22 s of the default
30, 3 s of 8); a grace period under 6 s, which would leave them less than 1 s, is refused (exit 2).
If the server does not stop in time it is killed and beit-serve exits 1.

Supervision: a python stub that dies (e.g. killed by the OOM killer) is noticed within ~0.2 s; its
model is unloaded (readiness false: requests get errors, never wrong answers), loaded again (after at
most 3 s for the dead instance to end), and readiness turns true once it is loaded (stderr:
``beit-serve: stub of MODEL died; reloaded in X s``; measured 0.4-3.3 s for the test models).
A stub that dies again while its model is reloaded (the load fails: "Stub process ... is not healthy")
gets the reload tried again, 3 attempts in all, 1 s and 4 s apart (stderr: ``beit-serve: reloading
MODEL after its stub died failed (...); attempt 2 of 3 in 1 s``). When the third fails too, beit-serve
stops tritonserver (every model) and exits 1, its error line saying that the reload after the stub's
death failed, for the orchestrator to restart it (the pod). So it does, without retrying, when a reload
does not finish within ``--ready-timeout`` (a stub killed before it reported to Triton makes Triton
2.51's load wait forever). If tritonserver itself exits, beit-serve removes what it left (stubs,
/dev/shm) and exits 1 at once, for the orchestrator to restart it.

After a stub died under load, Triton 2.51 never finishes unloading the dead instance (it still holds
the requests it had): the model is reloaded all the same, but the next stop waits the whole exit timeout
and Triton exits 1 (beit-serve says so on stderr and exits 1). Until then the dead instance's /dev/shm
region (as large as the largest batch it was sent: 64 MiB per image of it) stays mapped in tritonserver,
so its memory is kept until the server restarts (removing its name frees nothing while it is mapped).

Request size: an HTTP request body over ``--max-request-mb`` MiB (default 64) gets an error response,
on servers with Triton's ``--http-max-input-size`` (Triton 2.58 and newer). Triton 2.51 (the server of
``--setup``) has neither that flag nor a limit of its own (measured: a 260 MiB body reaches the models,
which answer with an error): there only the default is accepted, and beit-serve says at start that
request bodies are not limited (put a limit in front of it: an ingress' body size limit).

Exit codes (``beit_runtime.exit_codes``): 0 stopped cleanly, 1 the server failed, died or stopped uncleanly,
2 usage (bad REPO or option), 3 not set up (run ``beit-serve --setup``), 5 an optional dependency is missing
(the error names the ``pip install "beit-deploy[EXTRA]"`` that installs it, as for ``beit-run`` and
``beit-export``).
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

from ..argument_types import fixed_port_number, path_argument, port_number, positive_number
from ..errors import (
    ArtifactError,
    BeitDeployError,
    ServeOptionError,
    ServerError,
    ServeSetupError,
    missing_module_message,
)
from ..exit_codes import EXIT_ERROR, EXIT_OK, EXIT_SETUP, EXIT_USAGE, failure_exit
from .addresses import check_host
from .check import run_check
from .drain import MIN_GRACE_PERIOD_S, check_grace_period, drain_and_stop, exit_timeout_for, request_time_s
from .install import ServeLayout, serve_home, setup
from .launcher import LaunchPlan, TritonProcess, free_port, knows_flag, repository_paths
from .preflight import check_backends, check_distinct_ports, check_ports_free, check_unique_models
from .supervisor import Supervisor

PROG = "beit-serve"
DEFAULT_MAX_REQUEST_MB = 64
POLL_S = 0.2


class _StopFlag:
    """Set by SIGTERM/SIGINT (a plain attribute: safe in a signal handler, unlike a lock)."""

    def __init__(self) -> None:
        self.requested = False

    def set(self, signum: int, frame: object) -> None:
        self.requested = True

    def __call__(self) -> bool:
        return self.requested


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("repositories", nargs="*", type=path_argument, metavar="REPO",
        help="model repositories written by beit-export triton")
    add("--setup", action="store_true",
        help=f"prepare the local server and its python environment in $BEIT_SERVE_HOME ({serve_home()})")
    add("--setup-timeout", type=positive_number, default=900.0, help="seconds --setup may take in all (default 900)")
    add("--host", default="127.0.0.1",
        help="IP address to listen on (default 127.0.0.1; ::1 for IPv6; 0.0.0.0 for every IPv4 interface, :: IPv6)")
    add("--http-port", type=port_number, default=8000, help="HTTP port (default 8000; 0: any free port)")
    add("--grpc-port", type=port_number, default=8001, help="gRPC port (default 8001; 0: any free port)")
    add("--metrics-port", type=fixed_port_number, help="serve Prometheus metrics on this port, 1-65535 (default: off)")
    add("--tritonserver", type=path_argument,
        help="tritonserver binary to use (default: tritonserver on PATH, else --setup's)")
    add("--python-env", type=path_argument, help="venv the python models run in (default: --setup's with its server)")
    add("--ready-timeout", type=positive_number, default=300.0,
        help="seconds to wait for every model to load (default 300)")
    add("--log-file", type=path_argument, help="write the server's log here instead of stderr")
    add("--log-verbose", type=int, default=0, help="Triton's --log-verbose level (default 0)")
    add("--grace-period", type=positive_number, default=30.0,
        help="seconds a stop (SIGTERM/Ctrl-C) may take in all: readiness false, requests in flight finish, the "
             "server stops (default 30, Kubernetes' default; give terminationGracePeriodSeconds). Requests in "
             "flight get it less Triton's exit timeout (2-5 s) and 3 s: "
             f"{request_time_s(30):.0f} s of 30; at least {MIN_GRACE_PERIOD_S}, which leaves them "
             f"{request_time_s(MIN_GRACE_PERIOD_S):.0f} s")
    add("--max-request-mb", type=int, default=DEFAULT_MAX_REQUEST_MB,
        help="largest HTTP request body in MiB; larger ones get an error (default 64; needs Triton >= 2.58: "
             "Triton 2.51 has no limit and accepts only the default, see above)")
    add("--check", metavar="URL", help="check the server at URL instead of serving: live, every model READY, one real "
                                       "inference per ensemble; exit 0 healthy, 1 not (a startup probe)")
    add("--check-live", action="store_true",
        help="with --check: no inference, only live and every model READY (a liveness probe: a busy server passes)")
    add("--check-timeout", type=positive_number, default=5.0, metavar="S",
        help="seconds --check may take in all (default 5)")
    add("--check-model", action="append", default=[], metavar="NAME",
        help="with --check: ask this model (repeatable; default: every ensemble, else every NAME_preprocess)")
    return parser


def launch_plan(args: argparse.Namespace, layout: ServeLayout) -> LaunchPlan:
    """Which server and python to use (see the module docstring), on the requested ports."""
    check_grace_period(args.grace_period)
    check_distinct_ports({"--http-port": args.http_port, "--grpc-port": args.grpc_port,
                          "--metrics-port": args.metrics_port})
    host = check_host(args.host)
    found = args.tritonserver or (Path(found) if (found := shutil.which("tritonserver")) else None)
    repositories = repository_paths(args.repositories)
    if found is None and (not layout.server_ready() or not layout.env_ready()):
        raise ServeSetupError(f"no tritonserver on PATH and none set up in {layout.home}: run `{PROG} --setup` first")
    check_unique_models(repositories)
    check_ports_free(host, {"--http-port": args.http_port, "--grpc-port": args.grpc_port,
                            "--metrics-port": args.metrics_port})
    ports = {name: getattr(args, name) or free_port(host) for name in ("http_port", "grpc_port")}
    binary = Path(found) if found is not None else layout.binary
    common = dict(repositories=repositories, host=host, metrics_port=args.metrics_port,
                  log_verbose=args.log_verbose, exit_timeout_s=exit_timeout_for(args.grace_period),
                  max_input_bytes=_max_input_bytes(binary, args.max_request_mb), **ports)
    if found is not None:
        backends = Path(found).resolve().parent.parent / "backends"
        plan = LaunchPlan(binary=Path(found), backends=backends if backends.is_dir() else None,
                          python_env=args.python_env, cpu_only=False, **common)
    else:
        plan = LaunchPlan(binary=layout.binary, backends=layout.backends,
                          python_env=args.python_env or layout.env_dir, **common)
    check_backends(plan)
    return plan


def _max_input_bytes(binary: Path, megabytes: int) -> int | None:
    """``--http-max-input-size`` in bytes, or None for a server without that flag (then bodies are not limited)."""
    if megabytes < 1:
        raise ServeOptionError(f"--max-request-mb must be at least 1 (got {megabytes})")
    if binary.exists() and knows_flag(binary, "--http-max-input-size"):
        return megabytes * 2**20
    if megabytes != DEFAULT_MAX_REQUEST_MB:
        raise ServeOptionError(f"{binary} has no --http-max-input-size (Triton < 2.58) and no HTTP request size "
                               "limit of its own; drop --max-request-mb (and limit bodies in front of the server, "
                               "e.g. in the ingress) or use Triton >= 2.58")
    print(f"{PROG}: note: {binary.name} has no --http-max-input-size (Triton < 2.58): HTTP request bodies are not "
          "limited by the server; limit them in front of it (e.g. the ingress)", file=sys.stderr, flush=True)
    return None


def serve(plan: LaunchPlan, *, ready_timeout_s: float, log_file: Path | None, grace_period_s: float = 30.0) -> int:
    """Run the server until SIGTERM/SIGINT (or until it exits), its log in ``log_file`` (default stderr);
    the exit code for beit-serve."""
    with contextlib.ExitStack() as stack:
        log = stack.enter_context(open(log_file, "a", encoding="utf-8")) if log_file else sys.stderr
        return _serve_until_stopped(plan, ready_timeout_s=ready_timeout_s, grace_period_s=grace_period_s, log=log)


def _serve_until_stopped(plan: LaunchPlan, *, ready_timeout_s: float, grace_period_s: float, log: IO[str]) -> int:
    stop = _StopFlag()
    previous = {signum: signal.signal(signum, stop.set) for signum in (signal.SIGTERM, signal.SIGINT)}
    server = None
    try:
        start = time.monotonic()
        server = TritonProcess(plan, log=log)
        models = server.wait_ready(timeout_s=ready_timeout_s, cancelled=stop)
        if not stop():
            supervisor = Supervisor(server, reload_timeout_s=ready_timeout_s)  # its stubs, before anyone is told
            print(f"{PROG}: ready http://{server.http_url} grpc {server.grpc_url} models: {', '.join(models)} "
                  f"({time.monotonic() - start:.1f} s)", flush=True)
            if not _supervise(server, supervisor, stop=stop):
                return EXIT_ERROR
            if supervisor.stuck:
                stuck = ", ".join(sorted(supervisor.stuck))
                print(f"{PROG}: {stuck}: the instance whose stub died still holds its requests; Triton cannot "
                      "finish unloading it and will stop uncleanly", file=sys.stderr, flush=True)
        stopping = time.monotonic()
        code = drain_and_stop(server, grace_period_s=grace_period_s)
        print(f"{PROG}: stopped in {time.monotonic() - stopping:.1f} s (tritonserver exit code {code})",
              file=sys.stderr, flush=True)
        return EXIT_OK if code == 0 else EXIT_ERROR
    except BaseException:
        if server is not None:
            server.stop(wait_s=plan.exit_timeout_s + 2.0)
        raise
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _supervise(server: TritonProcess, supervisor: Supervisor, *, stop: _StopFlag) -> bool:
    """Watch the server and its stubs until a stop is asked for (True) or the server is lost (False: it
    exited, or a model whose stub died did not come back; then it is stopped and its leftovers removed)."""
    while not stop():
        code = server.process.poll()
        if code is not None:
            server.clean_up()
            print(f"{PROG}: tritonserver exited on its own with {code}", file=sys.stderr, flush=True)
            return False
        try:
            supervisor.check(cancelled=stop)
        except (OSError, ServerError) as error:
            if server.process.poll() is None and not stop():
                print(f"{PROG}: error: {error}; stopping tritonserver (every model) and exiting 1, for the "
                      "orchestrator to restart beit-serve (the pod)", file=sys.stderr, flush=True)
                server.stop(signum=signal.SIGKILL, wait_s=5)
                return False
        time.sleep(POLL_S)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check_live and not args.check:
        build_parser().error("--check-live goes with --check URL")
    if args.check:
        return run_check(args.check, timeout_s=args.check_timeout, models=args.check_model, live=args.check_live,
                         prog=PROG)
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
        return serve(plan, ready_timeout_s=args.ready_timeout, log_file=args.log_file,
                     grace_period_s=args.grace_period)
    except (BeitDeployError, ImportError) as error:
        return _report_error(error)


def _report_error(error: BeitDeployError | ImportError) -> int:
    """``beit-serve: error: ...`` on stderr (a missing optional module: ``missing_extra``'s message naming the
    install); the exit code of ``error``."""
    message = missing_module_message(error) if isinstance(error, ImportError) else str(error)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    if isinstance(error, ServeSetupError):
        return EXIT_SETUP
    if isinstance(error, (ArtifactError, ServeOptionError)):
        return EXIT_USAGE
    return failure_exit(error)  # EXIT_DEPENDENCY for an ImportError (BackendUnavailableError is one), else EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
