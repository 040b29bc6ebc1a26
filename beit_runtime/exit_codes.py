"""The exit codes of the package's command lines (``beit-export``, ``beit-run``, ``beit-serve``), named once.

Every command: 0 success, 1 the work failed, 2 bad usage, 5 an optional dependency (a backend, an extra, bf16
units) is missing, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM). 3 and 4 mean what each command says:
``beit-export`` 3 a parity failure, 4 a graph check failure; ``beit-run`` 3 some images failed (the others
have their results); ``beit-serve`` 3 ``--setup`` failed. README.md lists them per command.
"""

from __future__ import annotations

import signal

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARITY = 3  # beit-export: the graph does not reproduce the model
EXIT_SOME_FAILED = 3  # beit-run: some images failed, the others have their results
EXIT_SETUP = 3  # beit-serve: --setup could not prepare the server
EXIT_GRAPH = 4  # beit-export: a graph check failed (TensorRT incompatibility among them)
EXIT_DEPENDENCY = 5
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130: the shell's code for a process ended by SIGINT (Ctrl-C)
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143: the shell's code for a process ended by SIGTERM
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE (13): beit-run's stdout reader went away (`| head -1`), as for a Unix tool


def failure_exit(error: BaseException) -> int:
    """The exit code of a command whose work raised ``error``: EXIT_DEPENDENCY for a missing optional dependency
    (an ImportError; ``BackendUnavailableError`` is one), else EXIT_ERROR."""
    return EXIT_DEPENDENCY if isinstance(error, ImportError) else EXIT_ERROR
