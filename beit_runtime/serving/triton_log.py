"""tritonserver's output, copied line by line to beit-serve's log (stderr or ``--log-file``), its errors kept.

A server that exits before it is ready says why only in its log ("failed to load 'cls_engine' version 1:
... no GPUs are available", "failed to start HTTP service: ... already in use", "error: creating server:
..."), many lines above the last one, or in a file. ``ServerLog`` finds those lines (``error_message``)
so that beit-serve's one error line can repeat them. On stderr the server writes into a pipe that a
thread copies line by line; python stubs inherit it, so it ends when the server and every stub have
exited.
"""

from __future__ import annotations

import collections
import os
import re
import stat
import threading
from typing import IO

# glog's error lines: E1206 22:13:19.009811 2274 model_repository_manager.cc:1323] "failed to poll model ..."
_GLOG_ERROR = re.compile(r'^E\d{4} [\d:.]+\s+\d+ [\w.]+:\d+\] "?(?P<message>.*?)"?\s*$')
KEPT_LINES = 50
SHOWN_ERRORS = 3
MESSAGE_CHARS = 300
READ_BACK_BYTES = 4 * 2**20  # of a --log-file, from its end


def error_of(line: str) -> str | None:
    """The message of one of tritonserver's error lines that says why it stops ("failed to ...", "error: ..."),
    else None."""
    line = line.strip()
    message = line if line.startswith("error: ") else None
    match = _GLOG_ERROR.match(line)
    if match and "failed to " in match["message"]:
        message = match["message"]
    # the first line of it (a python model's traceback follows as escaped newlines: "...\\n\\nAt:\\n  model.py(1)")
    return message.split("\\n", 1)[0].strip()[:MESSAGE_CHARS] if message else None


def error_message(lines: list[str]) -> str:
    """The first ``SHOWN_ERRORS`` distinct error messages among ``lines``, joined for one line ("" if none)."""
    found = list(dict.fromkeys(message for line in lines if (message := error_of(line))))
    shown = "; ".join(found[:SHOWN_ERRORS])
    return f"{shown}; ... ({len(found) - SHOWN_ERRORS} more)" if len(found) > SHOWN_ERRORS else shown


def _regular_file(log: IO[str]) -> bool:
    try:
        return stat.S_ISREG(os.fstat(log.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):  # no file descriptor (a test's capture), or closed
        return False


class ServerLog:
    """Where a server's output goes (``stdout`` for Popen) and its error message once it has ended
    (``error_message``). A regular file (``--log-file``) gets the server's writes directly and is read
    back from where it ended at start; anything else (stderr) gets them through a pipe and a thread
    that copies each line and keeps the error lines. ``started`` once Popen has returned."""

    def __init__(self, sink: IO[str]) -> None:
        self.sink = sink
        self.file = _regular_file(sink)
        self.errors: collections.deque[str] = collections.deque(maxlen=KEPT_LINES)
        self.thread: threading.Thread | None = None
        if self.file:
            sink.flush()
            self.offset = os.fstat(sink.fileno()).st_size
            self.stdout = sink.fileno()
            self.path = os.readlink(f"/proc/self/fd/{self.stdout}")  # to read back after the caller closed its copy
            name = str(sink.name)
            self.place = "above" if name.startswith("<") else f"in {name}"  # where the error says the log is
        else:
            self.place = "above"
            self.read_fd, self.stdout = os.pipe()

    def started(self, *, ok: bool = True) -> None:
        """The server holds its copy of the pipe now (``ok``; else Popen failed): close ours, start copying."""
        if self.file:
            return
        os.close(self.stdout)
        if not ok:
            os.close(self.read_fd)
            return
        self.thread = threading.Thread(target=self._copy, name="tritonserver-log", daemon=True)
        self.thread.start()

    def _copy(self) -> None:
        with open(self.read_fd, "rb", closefd=True) as pipe:
            for raw in pipe:
                line = raw.decode("utf-8", errors="replace")
                if error_of(line):
                    self.errors.append(line)
                try:
                    self.sink.write(line)
                    self.sink.flush()
                except (OSError, ValueError):  # the log was closed (beit-serve is ending): keep draining the pipe
                    pass

    def finish(self, *, timeout_s: float = 2.0) -> None:
        """Wait (at most ``timeout_s``) for the lines still in the pipe to reach the log."""
        if self.thread is not None and self.thread.is_alive():
            self.thread.join(timeout_s)

    def error_message(self) -> str:
        """The server's error messages since it started (``error_message``), after ``finish``."""
        self.finish()
        if not self.file:
            return error_message(list(self.errors))
        try:
            with open(self.path, "rb") as log:
                size = os.fstat(log.fileno()).st_size
                log.seek(max(self.offset, size - READ_BACK_BYTES))
                return error_message(log.read().decode("utf-8", errors="replace").splitlines())
        except OSError:
            return ""
