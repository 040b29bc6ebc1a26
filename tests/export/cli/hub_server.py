"""A local stand-in for the Hugging Face hub's file endpoints, served the way huggingface_hub reads them.

``/{owner}/{name}/resolve/{revision}/{file}`` (HEAD and GET) answers as huggingface.co does:

- a small (git) file: 200 with ``ETag`` (the git blob sha1), ``X-Repo-Commit``, ``Content-Length``;
- a weights file (LFS): 302 to a second server (another origin, like the hub's CDN) with
  ``X-Linked-Etag`` (the sha256 the cache names the blob by), ``X-Linked-Size`` and ``X-Repo-Commit``
  on the redirect itself (huggingface_hub does not follow a HEAD off the hub's origin); the CDN
  serves the bytes and honours ``Range: bytes=N-`` (how huggingface_hub resumes a dropped download);
- an unknown repository: 401 ``X-Error-Code: RepoNotFound``; an unknown revision: 404
  ``RevisionNotFound``; a missing file: 404 ``EntryNotFound`` with ``X-Repo-Commit`` (which lets the
  cache remember the file is absent).

Misbehaving repositories: ``DROPPED_REPO`` closes every hub connection without answering; a
repository's ``cdn`` mode ``"drops-once"`` cuts its first download halfway, ``"drops"`` closes every
CDN connection without answering, ``"stalls"`` sends nothing for ``STALL_SECONDS`` and then closes.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

COMMIT = "0123456789abcdef0123456789abcdef01234567"
TAG = "v1.0"
DROPPED_REPO = "someone/dropped-connection"
STALL_SECONDS = 3.0
LFS_FILES = ("model.safetensors", "pytorch_model.bin")
_RESOLVE = re.compile(r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)")
_RANGE = re.compile(r"bytes=(?P<start>\d+)-")


def git_blob_sha1(data: bytes) -> str:
    """The hub's ETag of a regular (non-LFS) file: the git blob id."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubRepo:
    files: dict[str, bytes]
    cdn: str = "ok"  # "ok" | "drops-once" | "drops" | "stalls"

    @classmethod
    def from_folder(cls, folder: Path, *, cdn: str = "ok") -> HubRepo:
        return cls({path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())}, cdn=cdn)


@dataclass
class HubLayout:
    """What the two servers serve, and every request they saw (``"HEAD hub /path"``, ``"GET cdn SHA range=..."``)."""

    repos: dict[str, HubRepo] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    cdn_url: str = ""
    stopping: threading.Event = field(default_factory=threading.Event)
    _dropped_once: set[str] = field(default_factory=set)

    def blob(self, repo_id: str, sha256: str) -> tuple[bytes, str] | None:
        """The weights of ``repo_id`` whose sha256 is ``sha256``, and the repository's CDN mode."""
        repo = self.repos.get(repo_id)
        for name in LFS_FILES if repo is not None else ():
            data = repo.files.get(name)
            if data is not None and hashlib.sha256(data).hexdigest() == sha256:
                return data, repo.cdn
        return None

    def first_cut(self, key: str) -> bool:
        """True the first time a "drops-once" blob is served (that download is cut halfway)."""
        first = key not in self._dropped_once
        self._dropped_once.add(key)
        return first


class _Handler(BaseHTTPRequestHandler):
    layout: HubLayout

    def log_message(self, *args) -> None:  # keep the test output clean
        del args

    def _headers(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _drop(self) -> None:
        """Close the connection without a status line: the client sees it drop."""
        self.close_connection = True


class _HubHandler(_Handler):
    def do_HEAD(self) -> None:  # do_HEAD/do_GET: http.server's method names
        self._resolve(body=False)

    def do_GET(self) -> None:
        self._resolve(body=True)

    def _error(self, status: int, code: str, message: str, *, commit: bool = False) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": message, "Content-Length": "0"}
        self._headers(status, {**headers, "X-Repo-Commit": COMMIT} if commit else headers)

    def _resolve(self, *, body: bool) -> None:
        self.layout.requests.append(f"{self.command} hub {self.path}")
        match = _RESOLVE.fullmatch(urlsplit(self.path).path)
        if match is None:
            self._error(404, "EntryNotFound", "not a resolve URL")
            return
        repo_id, revision, name = match["repo"], match["revision"], match["file"]
        if repo_id == DROPPED_REPO:
            self._drop()
            return
        repo = self.layout.repos.get(repo_id)
        if repo is None:
            self._error(401, "RepoNotFound", "Repository not found")
            return
        if revision not in ("main", TAG, COMMIT):
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
            return
        data = repo.files.get(name)
        if data is None:
            self._error(404, "EntryNotFound", f"{name} does not exist on {revision!r}", commit=True)
            return
        if name in LFS_FILES:
            self._redirect_to_cdn(repo_id, data)
            return
        self._headers(200, {"X-Repo-Commit": COMMIT, "ETag": f'"{git_blob_sha1(data)}"',
                            "Content-Length": str(len(data))})
        if body:
            self.wfile.write(data)

    def _redirect_to_cdn(self, repo_id: str, data: bytes) -> None:
        sha256 = hashlib.sha256(data).hexdigest()
        self._headers(302, {
            "Location": f"{self.layout.cdn_url}/{repo_id}/{sha256}",
            "X-Repo-Commit": COMMIT,
            "X-Linked-Etag": f'"{sha256}"',
            "X-Linked-Size": str(len(data)),
            "ETag": f'"{git_blob_sha1(sha256.encode())}"',  # the LFS pointer's id, not the content's
            "Content-Length": "0",
        })


class _CdnHandler(_Handler):
    def do_GET(self) -> None:
        repo_id, _, sha256 = urlsplit(self.path).path.strip("/").rpartition("/")
        wanted = self.headers.get("Range")
        self.layout.requests.append(f"GET cdn {self.path} range={wanted}")
        found = self.layout.blob(repo_id, sha256)
        if found is None:
            self._headers(404, {"Content-Length": "0"})
            return
        data, mode = found
        if mode == "stalls":
            self.layout.stopping.wait(STALL_SECONDS)
        if mode in ("drops", "stalls"):
            self._drop()
            return
        start = int(_RANGE.fullmatch(wanted)["start"]) if wanted and _RANGE.fullmatch(wanted) else 0
        payload = data[start:]
        headers = {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes", "Content-Length": str(len(payload))}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        self._headers(206 if start else 200, headers)
        if mode == "drops-once" and self.layout.first_cut(self.path):
            self.wfile.write(payload[: len(payload) // 2])  # then the connection closes mid-body
            self._drop()
            return
        self.wfile.write(payload)


def _serve(handler: type[_Handler], layout: HubLayout) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type(handler.__name__, (handler,), {"layout": layout}))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@contextmanager
def local_hub(layout: HubLayout) -> Iterator[str]:
    """Serve ``layout`` on 127.0.0.1 (hub + CDN on two ports); yields the endpoint for ``HF_ENDPOINT``."""
    cdn = _serve(_CdnHandler, layout)
    layout.cdn_url = f"http://127.0.0.1:{cdn.server_address[1]}"
    hub = _serve(_HubHandler, layout)
    try:
        yield f"http://127.0.0.1:{hub.server_address[1]}"
    finally:
        layout.stopping.set()
        for server in (hub, cdn):
            server.shutdown()
            server.server_close()
