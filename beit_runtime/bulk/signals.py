"""SIGTERM during a folder run: what Kubernetes (and ``kill``) send to stop a pod is handled as Ctrl-C is.

Python turns SIGINT into ``KeyboardInterrupt``, so the runners' clean-up (the embeddings waiting for a
shard written, the output folder's lock released, Ray disconnected) runs and ``beit-run`` ends with one
line and exit 130; SIGTERM's default would kill the process on the spot. ``SigtermRaises()`` makes
SIGTERM raise ``Terminated`` (a ``KeyboardInterrupt``, so whatever cleans up after Ctrl-C cleans up after
it too) while a run lasts (``with SigtermRaises():``); ``beit-run`` then says "terminated" and exits 143
(128 + 15, the shell's code for a process ended by SIGTERM). Only the main thread may set handlers:
elsewhere SIGTERM keeps its own.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM during a folder run."""


class SigtermRaises:
    """While the ``with`` block runs, SIGTERM raises ``Terminated`` in the main thread (once: a second SIGTERM
    while the run cleans up is ignored, so the clean-up finishes); the earlier handler is put back after.
    ``reinstall()`` takes SIGTERM back after a library set its own (``ray.init`` does). A SIGTERM the process
    ignores (SIG_IGN) stays ignored; outside the main thread nothing changes."""

    def __init__(self) -> None:
        self._previous: Any = None
        self._active = False
        self._received = False

    def __enter__(self) -> SigtermRaises:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.getsignal(signal.SIGTERM)
            self._active = self._previous != signal.SIG_IGN
        self.reinstall()
        return self

    def reinstall(self) -> None:
        if self._active:
            signal.signal(signal.SIGTERM, self._terminate)

    def __exit__(self, *exception: object) -> None:
        if self._active:  # None: a handler set outside Python, which cannot be put back: the default then
            signal.signal(signal.SIGTERM, self._previous if self._previous is not None else signal.SIG_DFL)

    def _terminate(self, signum: int, frame: FrameType | None) -> None:
        if not self._received:
            self._received = True
            raise Terminated(f"signal {signum}")
