"""One tritonclient HTTP client per thread, so that a Remote* client made in one thread serves every thread.

tritonclient's HTTP client sends over geventhttpclient connections from gevent greenlets, which belong to the gevent
hub of the thread that made them: its documentation says the client "is intended to be used by a single thread",
and used from another one it fails ("Cannot switch to a different thread"). ``ThreadClients`` makes a thread's
client when that thread first asks for one and keeps it for that thread's later calls. ``close()`` closes them all
(a client whose thread is still sending is left to its thread: gevent cannot wait for it from another one). A
thread that ends leaves its client idle: the next thread that makes its own closes it, so a server that starts a
thread per request (Flask's) holds about one client per live thread. ``quiet_gevent_hub`` keeps a thread's hub
from printing a traceback for a request that failed (the failure is raised to the caller, typed).
"""

from __future__ import annotations

import contextlib
import http.client
import threading
from collections.abc import Callable
from typing import Any


class ThreadClients:
    """The calling thread's client, made by ``make`` on its first call; ``closed`` once ``close()`` was called."""

    def __init__(self, make: Callable[[], Any], *, check_open: Callable[[], None]) -> None:
        self._make, self._check_open = make, check_open
        self._local = threading.local()
        self._lock = threading.Lock()
        self._made: list[_Made] = []
        self.closed = False

    def get(self) -> Any:
        """This thread's client (``check_open``'s error once closed)."""
        client = getattr(self._local, "client", None)
        if client is not None:
            return client
        made, ended = _Made(self._make()), []
        with self._lock:
            kept = not self.closed
            if kept:
                ended = [entry for entry in self._made if not entry.thread.is_alive()]
                self._made = [entry for entry in self._made if entry.thread.is_alive()] + [made]
        for entry in ended:
            entry.close(ended=True)
        if not kept:  # made while another thread closed them all
            made.close(ended=False)
        self._check_open()
        self._local.client = made.client
        return made.client

    def close(self) -> None:
        with self._lock:
            self.closed = True
            made, self._made = self._made, []
        for entry in made:
            entry.close(ended=not entry.thread.is_alive())


class _Made:
    """A client, the thread it belongs to and that thread's gevent hub (made in that thread)."""

    def __init__(self, client: Any) -> None:
        import gevent

        self.client, self.thread, self.hub = client, threading.current_thread(), gevent.get_hub()

    def close(self, *, ended: bool) -> None:
        """Close the client, and the hub too once its thread has ended (gevent leaves an ended thread's hub, two
        file descriptors, open; its ``Hub.destroy`` may be called from another thread after that one exited)."""
        try:
            self.client.close()
        except Exception:  # gevent's: waiting, from another thread, for greenlets of this one (even finished ones)
            with contextlib.suppress(Exception):
                self.client._client_stub.close()  # its connections, all that close() had left to do
            self.client._closed = True  # else tritonclient's __del__ calls close() again, and prints its error
        if ended:
            with contextlib.suppress(Exception):
                self.hub.destroy(destroy_loop=True)


def quiet_gevent_hub() -> None:
    """This thread's gevent hub (tritonclient's HTTP client sends from greenlets) stops printing a traceback
    for each request that fails on the network: the failure is raised by ``get_result``, typed (``failures``)."""
    import gevent

    hub = gevent.get_hub()
    # RuntimeError: "connection pool closed", when another thread closes the client while this one sends
    missing = tuple(kind for kind in (OSError, http.client.HTTPException, RuntimeError) if kind not in hub.NOT_ERROR)
    if missing:
        hub.NOT_ERROR = (*hub.NOT_ERROR, *missing)
