"""What would stop tritonserver at start, checked before it is launched (``beit-serve`` exits 2 naming the fix).

Measured with Triton 2.51: a model name in two of the repositories ("failed to poll model 'cls': not
unique across all model repositories") and a port another process listens on ("Socket '127.0.0.1:8000'
already in use") are reported only in its log, the port only after every model has loaded, and both end
in one "failed to load all models" / exit 1. Triton takes every folder of a repository as a model.
"""

from __future__ import annotations

import errno
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import ServeOptionError
from .addresses import bind_error, host_port
from .launcher import LaunchPlan, model_backends


def model_folders(repository: Path) -> list[str]:
    """The names Triton gives the models of ``repository``: its folders."""
    return sorted(child.name for child in repository.iterdir() if child.is_dir())


def check_unique_models(repositories: Sequence[Path]) -> None:
    """ServeOptionError when a repository is given twice or a model name is in two repositories."""
    seen: dict[str, Path] = {}
    given: set[Path] = set()
    for repository in repositories:
        if repository.resolve() in given:
            raise ServeOptionError(f"repository {repository} is given twice; give it once")
        given.add(repository.resolve())
        for name in model_folders(repository):
            if name in seen:
                raise ServeOptionError(
                    f"model '{name}' is in both {seen[name]} and {repository}, and Triton needs each model name once "
                    f"across its repositories: write one again under another name (`beit-export triton ARTIFACT "
                    f"--output REPO --name OTHER`), or serve them with two beit-serve on other ports")
            seen[name] = repository


def check_ports_free(host: str, ports: Mapping[str, int | None]) -> None:
    """ServeOptionError naming the flag when one of ``ports`` ({flag: number}; None and 0 skipped) cannot be
    listened on at ``host`` now (another server holds it, or it needs privileges)."""
    for flag, port in ports.items():
        if not port:
            continue
        error = bind_error(host, port)
        if error is None:
            continue
        choice = "1-65535: it cannot be 0" if flag == "--metrics-port" else "0: any free one"
        if error.errno == errno.EADDRINUSE:
            raise ServeOptionError(f"{flag} {port}: {host_port(host, port)} is already in use (another server "
                                   f"listens there); give {flag} another port ({choice}) or stop that server")
        raise ServeOptionError(f"{flag} {port}: cannot listen on {host_port(host, port)} ({error.strerror}); give "
                               f"{flag} another port ({choice}; below 1024 needs root) or another --host")


def check_distinct_ports(ports: Mapping[str, int | None]) -> None:
    """ServeOptionError when two of the server's ports (flag: number) are the same number (0 or None excepted)."""
    chosen = [(flag, number) for flag, number in ports.items() if number]
    for index, (flag, number) in enumerate(chosen):
        for other, other_number in chosen[index + 1:]:
            if number == other_number:
                raise ServeOptionError(f"{flag} and {other} are both {number}; give each its own port "
                                       "(--http-port and --grpc-port 0: any free one)")


def check_backends(plan: LaunchPlan) -> None:
    """ServeOptionError when a model runs on a backend the server's backend folder lacks (unknown folder: no check)."""
    if plan.backends is None:
        return
    missing = {model: backend for model, backend in model_backends(plan.repositories).items()
               if backend != "ensemble" and not (plan.backends / backend).is_dir()}
    if not missing:
        return
    model, backend = next(iter(missing.items()))
    present = ", ".join(sorted(path.name for path in plan.backends.iterdir() if path.is_dir())) or "none"
    raise ServeOptionError(
        f"model {model.name} in {model.parent} runs on Triton's {backend} backend, which {plan.binary} does not have "
        f"(its backends: {present}): re-write the repository with `beit-export triton ARTIFACT --output REPO "
        f"--model-backend python`, or serve it with a tritonserver that has the {backend} backend (--tritonserver)")
