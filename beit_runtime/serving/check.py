"""``beit-serve --check URL``: a probe of a running server, with one real inference per served model or none.

For Kubernetes exec probes (exit 0 healthy, 1 not). Within ``--check-timeout`` seconds in all (every
HTTP call gets what is left):

1. ``GET /v2/health/live``;
2. ``POST /v2/repository/index``: every model must be READY (one that is loading, unloading or
   unavailable fails the check, naming it and Triton's reason); with ``--check-model``, those;
3. with ``--check-live`` that is all (``live``): no request waits in a model's queue, so a busy but
   healthy server passes at once (measured with 32 clients keeping 9 MB segmentation requests in flight
   on 2 cores: 5-16 ms, while the inference check took 2.6-3.6 s, or ran past 5 s): the liveness probe;
4. otherwise the models to ask: the ``--check-model`` names, else every ensemble (``platform:
   "ensemble"``), else (masked image modeling repositories have no ensemble) every model whose one
   input is the encoded ``image`` (``NAME_preprocess``);
5. each gets one real inference: a small PNG (a colour gradient with a disc, made with numpy + OpenCV),
   and its answer must hold every output of its config (less the optional layer outputs, which are
   sent only when asked for) with the configured datatype and shape, and finite float values: the
   startup probe (the pod counts as started once its models answer a real image).

It prints one line, ``beit-serve: check ok: MODEL (12 ms), ...`` (``--check-live``: ``beit-serve: check ok:
live; ready: MODEL, ... (3 ms)``) or ``beit-serve: check failed: REASON``; a URL whose answer is not
HTTP (the gRPC port), or is Triton's metrics port (``remote.failures.is_metrics_port``), is a failure naming
that and the HTTP port to use. Requests use Triton's HTTP/JSON v2 protocol with its
binary-data extension (the JSON header, then the raw tensors; ``Inference-Header-Content-Length`` gives
the header's length), hand-written over urllib: tritonclient.http would add 36-61 ms of imports
(measured) to a probe that runs every few seconds.
"""

from __future__ import annotations

import http.client
import json
import struct
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from ..errors import ArtifactError, ServeOptionError, ServerError, ServerTimeoutError, ServerUnavailableError
from ..exit_codes import EXIT_ERROR, EXIT_OK
from ..remote.failures import METRICS_PORT_HINT, is_metrics_port
from ..serving_protocol import IMAGE_INPUT, PARAMETER_LAYER_OUTPUTS

HEADER_LENGTH = "Inference-Header-Content-Length"
NUMPY_TYPES = {"FP32": "<f4", "FP16": "<f2", "FP64": "<f8", "INT8": "<i1", "INT32": "<i4", "INT64": "<i8",
               "UINT8": "<u1", "BOOL": "?"}


@lru_cache(maxsize=1)
def check_image() -> bytes:
    """A 64x48 PNG: a colour gradient with a disc (something for the models to look at), ~3 KB."""
    yy, xx = np.mgrid[0:48, 0:64]
    image = np.stack([xx * 4, yy * 5, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
    cv2.circle(image, (40, 22), 12, (30, 200, 60), thickness=-1)
    return bytes(cv2.imencode(".png", image)[1].tobytes())


@dataclass
class Server:
    """One server's HTTP endpoint and what is left of the check's time."""

    url: str
    timeout_s: float
    deadline: float = 0.0

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.timeout_s

    def left(self, what: str) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise ServerTimeoutError(f"--check-timeout {self.timeout_s:g} s ran out before {what}; raise it")
        return left

    def call(self, path: str, *, body: bytes | None = None, headers: Mapping[str, str] | None = None,
             what: str) -> tuple[int, Message, bytes]:
        """(status, headers, body) of a GET (POST with ``body``), bounded by the time left."""
        request = urllib.request.Request(self.url + path, data=body, headers=dict(headers or {}),
                                         method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(request, timeout=self.left(what)) as reply:
                return int(reply.status), reply.headers, reply.read()
        except urllib.error.HTTPError as error:
            return int(error.code), error.headers, error.read()
        except (TimeoutError, urllib.error.URLError, OSError) as error:
            reason = error.reason if isinstance(error, urllib.error.URLError) else error
            if isinstance(reason, TimeoutError):
                raise ServerTimeoutError(f"no answer to {what} within --check-timeout {self.timeout_s:g} s; raise "
                                         "it or look at the server's load") from error
            raise ServerUnavailableError(f"nothing answers at {self.url} ({reason}); start beit-serve there or "
                                         "fix the URL") from error
        except http.client.HTTPException as error:  # after OSError: RemoteDisconnected is both
            raise ServerUnavailableError(f"{self.url} is not an HTTP endpoint (the gRPC port?): its answer to {what} "
                                         f"is not HTTP ({type(error).__name__}); give the server's HTTP port "
                                         "(beit-serve --http-port, 8000 by default)") from error

    def json(self, path: str, *, body: Any = None, what: str) -> Any:
        data = None if body is None else json.dumps(body).encode()
        status, _, text = self.call(path, body=data, what=what)
        try:
            if status == 200:
                return json.loads(text) if text else None
        except ValueError:
            pass
        if is_metrics_port(self.url, timeout_s=self.left(what)):
            raise ServerError(f"{self.url} {METRICS_PORT_HINT}")
        if status != 200:
            raise ServerError(f"{what}: HTTP {status}: {text.decode(errors='replace')[:300]}")
        raise ServerError(f"{what}: the answer is not JSON; is {self.url} a Triton server?")


def base_url(url: str) -> str:
    """``http://HOST:PORT`` from ``URL`` (a bare ``HOST:PORT`` is taken as http)."""
    url = url.strip().rstrip("/")
    if "://" not in url:
        url = f"http://{url}"
    if not url.startswith(("http://", "https://")) or url.split("://", 1)[1] == "":
        raise ServeOptionError(f"--check {url!r} is not an HTTP URL; give the server's HTTP endpoint, "
                               "e.g. http://127.0.0.1:8000")
    return url


def ready_models(server: Server, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{model: its repository index entry} of every model, after checking that ``names`` (default: all) are READY."""
    index = server.json("/v2/repository/index", body={}, what="the repository index") or []
    states = {entry["name"]: entry for entry in index}
    if not states:
        raise ServerError("the server has no model loaded; give beit-serve a repository written by beit-export triton")
    unknown = [name for name in names if name not in states]
    if unknown:
        raise ArtifactError(f"no model {', '.join(unknown)} on the server (it has {', '.join(sorted(states))}); "
                            "fix --check-model")
    for name in names or sorted(states):
        entry = states[name]
        if entry.get("state") != "READY":
            reason = f" ({entry['reason']})" if entry.get("reason") else ""
            raise ServerError(f"model {name} is {entry.get('state') or 'not ready'}{reason}, so it does not answer; "
                              f"load it again (POST /v2/repository/models/{name}/load) or restart beit-serve")
    return states


def targets(server: Server, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """{model: config} of the models to ask, after checking that the ones that matter are READY."""
    states = ready_models(server, names)
    configs = {name: server.json(f"{model_path(name)}/config", what=f"{name}'s config") for name in names or states}
    if names:
        chosen = {name: configs[name] for name in names}
    else:
        chosen = {name: config for name, config in configs.items() if config.get("platform") == "ensemble"}
        chosen = chosen or {name: config for name, config in configs.items() if takes_image(config)}
    for name, config in chosen.items():
        if not takes_image(config):
            raise ArtifactError(f"model {name} does not take one encoded '{IMAGE_INPUT}'; --check-model an ensemble "
                                "(or NAME_preprocess)")
    if not chosen:
        raise ArtifactError(f"no model takes an encoded '{IMAGE_INPUT}' (models: {', '.join(sorted(configs))}); "
                            "serve a repository written by beit-export triton")
    return dict(sorted(chosen.items()))


def model_path(name: str) -> str:
    return f"/v2/models/{urllib.parse.quote(name)}"


def takes_image(config: Mapping[str, Any]) -> bool:
    inputs = config.get("input") or []
    return len(inputs) == 1 and inputs[0].get("name") == IMAGE_INPUT and inputs[0].get("data_type") == "TYPE_STRING"


def expected_outputs(config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The config's outputs less the optional layer outputs (sent only when a client names them)."""
    optional: set[str] = set()
    parameter = (config.get("parameters") or {}).get(PARAMETER_LAYER_OUTPUTS)
    if parameter:
        optional = set(json.loads(parameter["string_value"]).get("outputs", []))
    return [spec for spec in config.get("output", []) if spec["name"] not in optional]


def infer(server: Server, name: str, outputs: Sequence[Mapping[str, Any]], image: bytes) -> dict[str, Any]:
    """One request with ``image``; {output name: (datatype, shape, raw bytes)}."""
    blob = struct.pack("<I", len(image)) + image
    header = json.dumps({
        "inputs": [{"name": IMAGE_INPUT, "shape": [1, 1], "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(blob)}}],
        "outputs": [{"name": spec["name"], "parameters": {"binary_data": True}} for spec in outputs],
    }).encode()
    status, headers, body = server.call(f"{model_path(name)}/infer", body=header + blob, what=f"{name}'s inference",
                                        headers={HEADER_LENGTH: str(len(header)),
                                                 "Content-Type": "application/octet-stream"})
    length = int(headers.get(HEADER_LENGTH) or len(body))
    if status != 200:
        text = body[:length].decode(errors="replace")
        message = json.loads(text).get("error", "") if text.startswith("{") else text[:300]
        raise ServerError(f"model {name} answered HTTP {status}: {message}; see the server log")
    answer, offset, results = json.loads(body[:length]), length, {}
    for output in answer.get("outputs", []):
        size = int((output.get("parameters") or {}).get("binary_data_size", 0))
        results[output["name"]] = (output.get("datatype"), list(output.get("shape", [])), body[offset:offset + size])
        offset += size
    return results


def verify(name: str, outputs: Sequence[Mapping[str, Any]], results: Mapping[str, Any]) -> None:
    """Every output present, with the configured datatype and shape (batch 1 first), floats finite."""
    for spec in outputs:
        if spec["name"] not in results:
            raise ServerError(f"model {name} answered without its output '{spec['name']}'; see the server log")
        datatype, shape, raw = results[spec["name"]]
        want = "BYTES" if spec["data_type"] == "TYPE_STRING" else spec["data_type"].removeprefix("TYPE_")
        dims = [1, *spec["dims"]]
        fits = len(shape) == len(dims) and all(d in (-1, s) for d, s in zip(dims, shape, strict=True))
        if datatype != want or not fits:
            raise ServerError(f"model {name}'s output '{spec['name']}' is {datatype}{shape}, its config says "
                              f"{want}{dims}; the repository and the server disagree: rewrite it (beit-export triton)")
        if datatype in ("FP16", "FP32", "FP64"):
            values = np.frombuffer(raw, dtype=NUMPY_TYPES[datatype])
            if values.size != int(np.prod(shape)) or not np.isfinite(values).all():
                raise ServerError(f"model {name}'s output '{spec['name']}' holds non-finite or missing values; "
                                  "the model is broken: see the server log and re-export it")


def check(url: str, *, timeout_s: float = 5.0, models: Sequence[str] = (),
          live: bool = False) -> list[tuple[str, float]]:
    """Run the check (see the module docstring); [(model, seconds its inference took)] (``live``: [(each
    READY model checked, 0.0)]), or a typed error."""
    if not timeout_s > 0:
        raise ServeOptionError(f"--check-timeout must be more than 0 s (got {timeout_s}); the probe's default is 5")
    server = Server(base_url(url), timeout_s=timeout_s)
    status, _, _ = server.call("/v2/health/live", what="the liveness endpoint")
    if status != 200:
        raise ServerError(f"the server at {server.url} is not live (HTTP {status}); see the server log")
    names = list(dict.fromkeys(models))
    if live:
        states = ready_models(server, names)
        return [(name, 0.0) for name in names or sorted(states)]
    answered = []
    for name, config in targets(server, names).items():
        outputs = expected_outputs(config)
        start = time.monotonic()
        verify(name, outputs, infer(server, name, outputs, check_image()))
        answered.append((name, time.monotonic() - start))
    return answered


def run_check(url: str, *, timeout_s: float = 5.0, models: Sequence[str] = (), live: bool = False,
              prog: str = "beit-serve") -> int:
    """``beit-serve --check``: the check's one line on stdout; EXIT_OK when every model answered (``live``: is
    READY), else EXIT_ERROR (a probe's "not healthy")."""
    start = time.monotonic()
    try:
        answered = check(url, timeout_s=timeout_s, models=models, live=live)
    except (ServerError, ArtifactError, ServeOptionError) as error:
        print(f"{prog}: check failed: {error}", flush=True)
        return EXIT_ERROR
    if live:
        names = ", ".join(name for name, _ in answered)
        print(f"{prog}: check ok: live; ready: {names} "
              f"({(time.monotonic() - start) * 1000:.0f} ms)", flush=True)
        return EXIT_OK
    print(f"{prog}: check ok: " + ", ".join(f"{name} ({seconds * 1000:.0f} ms)" for name, seconds in answered),
          flush=True)
    return EXIT_OK
