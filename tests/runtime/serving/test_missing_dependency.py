"""beit-serve where an optional module its work needs is not installed: exit 5 (EXIT_DEPENDENCY, as for beit-run and
beit-export), one line naming the `pip install "beit-deploy[EXTRA]"` that installs it, no traceback. beit-serve
itself imports no optional module (its probe is urllib, not tritonclient), so the work here is one that needs the
Triton client, run in an interpreter where tritonclient is not importable; no server starts."""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import pytest

from beit_runtime.exit_codes import EXIT_DEPENDENCY
from tests.hidden_modules import run_without

TRITON_EXTRA = '`pip install "beit-deploy[triton]"`'


def _serve_needing(module: str, argv: Sequence[str]) -> int:
    """beit-serve's ``main`` whose start-up, before any server, imports ``module`` (the import as written, or
    through ``remote.transport.client_module``, which raises BackendUnavailableError)."""
    from beit_runtime.remote.transport import client_module
    from beit_runtime.serving import server

    def start_up(*_: object) -> None:
        if module == "client_module":
            client_module("http")
        else:
            importlib.import_module(module)

    server.launch_plan = start_up  # type: ignore[assignment]  # a throwaway interpreter: nothing else runs in it
    return server.main(list(argv))


def serve_importing_tritonclient(argv: Sequence[str]) -> int:
    return _serve_needing("tritonclient.http", argv)


def serve_through_client_module(argv: Sequence[str]) -> int:
    return _serve_needing("client_module", argv)


@pytest.mark.parametrize(("entry", "line"), [
    ("serve_importing_tritonclient", f"beit-serve: error: tritonclient is not installed; install it with "
                                     f"{TRITON_EXTRA}"),
    ("serve_through_client_module", f"beit-serve: error: the Triton http client is not installed; install it with "
                                    f"{TRITON_EXTRA} (No module named 'tritonclient')"),
])
def test_a_missing_optional_module_is_exit_5_naming_its_extra(entry, line, tmp_path):
    done = run_without(["tritonclient"], f"{__name__}:{entry}", [str(tmp_path)], timeout=120)
    assert done.returncode == EXIT_DEPENDENCY == 5, done.stderr
    assert done.stderr.strip() == line, done.stderr
    assert done.stdout == ""
