"""Triton's Prometheus endpoint (issue 19, item 7): ``beit-serve --metrics-port`` serves ``/metrics``, whose
counters grow by exactly the requests made, for the ensemble and for each model it is made of.

How Triton 2.51 counts (measured here; the test pins it, so a Triton that counts otherwise fails it): the
ensemble ``cls`` counts an answered request once in ``nv_inference_request_success``, ``nv_inference_count``
and ``nv_inference_exec_count``; a request that fails in a composing model (an undecodable image) *twice* in
``nv_inference_request_failure`` (label ``reason="OTHER"``; summed over reasons here); a request Triton
refuses before scheduling it (a batch over ``max_batch_size``, a wrong datatype) in no counter at all. The
composing models count what the ensemble sends them: a request preprocessing refuses is a *success* of
``cls_preprocess`` (a python model's error response is a successful execution; triton-inference-server/server
#8521) and never reaches ``cls_engine`` or ``cls_postprocess``. Warm-up requests are counted by the composing
models at load, so the test compares counts before and after its requests, never absolute values.
The metrics port given where the HTTP port belongs (a client, ``--check``) is an error that names it.
"""

from __future__ import annotations

import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Mapping

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from beit_runtime.errors import ImageDecodeError, InputError, ServerError
from beit_runtime.remote import RemoteClassifier
from beit_runtime.remote.transport import Transport
from beit_runtime.serving.launcher import free_port
from tests.runtime.serving.triton_server import endpoints, serve_command, start_beit_serve

MODELS = ("cls", "cls_preprocess", "cls_engine", "cls_postprocess")
COUNTERS = ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
            "nv_inference_exec_count")
WAIT_S = 10.0
Counts = dict[tuple[str, str], float]


def counts(metrics_url: str) -> Counts:
    """(counter, model) -> value for ``COUNTERS`` of ``MODELS``, failures summed over their reasons."""
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        text = reply.read().decode()
    totals: Counts = {(name, model): 0.0 for name in COUNTERS for model in MODELS}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = (family.name, sample.labels.get("model", ""))  # a counter's samples get "_total" appended
            if key in totals:
                totals[key] += sample.value
    return totals


def wait_for(metrics_url: str, before: Counts, expected: Mapping[tuple[str, str], float]) -> Counts:
    """The counts' growth since ``before``, once it equals ``expected`` (Triton may publish with a delay) or
    after ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    while True:
        now = counts(metrics_url)
        grown = {key: now[key] - before[key] for key in expected}
        if grown == dict(expected) or time.monotonic() > deadline:
            return grown
        time.sleep(0.2)


@pytest.fixture(scope="module")
def metered(serve_layout, repositories, tmp_path_factory) -> Iterator[tuple[str, str, str]]:
    """A ``beit-serve`` of the ``cls`` repository with ``--metrics-port``: (HTTP address, gRPC address, metrics URL)."""
    port = free_port()
    log = tmp_path_factory.mktemp("metrics") / "server.log"
    process, line = start_beit_serve([repositories["cls"]], log=log, extra=["--metrics-port", str(port)])
    try:
        yield *endpoints(line), f"http://127.0.0.1:{port}/metrics"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def images(*rows: bytes) -> dict[str, np.ndarray]:
    return {"image": np.array([[row] for row in rows], dtype=object)}


def test_the_endpoint_serves_triton_metrics(metered):
    metrics_url = metered[2]
    with urllib.request.urlopen(metrics_url, timeout=10) as reply:
        assert reply.status == 200 and reply.headers.get_content_type() == "text/plain"
        names = {family.name for family in text_string_to_metric_families(reply.read().decode())}
    for name in (*COUNTERS, "nv_inference_queue_duration_us", "nv_inference_request_duration_us",
                 "nv_inference_pending_request_count"):
        assert name in names, sorted(names)


def test_counters_grow_by_exactly_the_requests_made(metered, photo_bytes):
    """5 answered requests (over HTTP and gRPC), 2 refused by preprocessing, 2 refused by Triton before
    scheduling (a batch over max_batch_size, a wrong datatype)."""
    http, grpc, metrics_url = metered
    good, undecodable = 5, 2
    before = counts(metrics_url)
    transports = [Transport(f"http://{http}"), Transport(f"grpc://{grpc}")]
    try:
        for index in range(good):  # one at a time: no dynamic batching, so one execution each
            labels = transports[index % 2].infer_many("cls", [images(photo_bytes[0])], ["labels"])[0]["labels"]
            assert labels.shape == (1, 5)
        for index in range(undecodable):
            with pytest.raises(ImageDecodeError):
                transports[index % 2].infer_many("cls", [images(b"not an image")], ["labels"])
        with pytest.raises(InputError, match="batch-size must be <= 8"):
            transports[0].infer_many("cls", [images(*[photo_bytes[0]] * 9)], ["labels"])
        with pytest.raises(InputError, match="expects 'BYTES'"):
            transports[1].infer_many("cls", [{"image": np.zeros((1, 1), dtype=np.float32)}], ["labels"])
    finally:
        for transport in transports:
            transport.close()
    expected = {
        ("nv_inference_request_success", "cls"): good,
        ("nv_inference_request_failure", "cls"): 2 * undecodable,  # twice each; the refused batch and dtype: never
        ("nv_inference_count", "cls"): good,
        ("nv_inference_exec_count", "cls"): good,
        ("nv_inference_request_success", "cls_preprocess"): good + undecodable,
        ("nv_inference_request_failure", "cls_preprocess"): 0,
        **{(name, model): good for name in ("nv_inference_request_success", "nv_inference_count",
                                             "nv_inference_exec_count")
           for model in ("cls_engine", "cls_postprocess")},
        **{("nv_inference_request_failure", model): 0 for model in ("cls_engine", "cls_postprocess")},
    }
    assert wait_for(metrics_url, before, expected) == expected


def test_the_metrics_port_given_for_the_http_port_is_named(metered):
    """It answers every GET with an empty 200 and every POST with 405: the errors say what answered, and the fix."""
    address = metered[2].removeprefix("http://").removesuffix("/metrics")
    hint = "answered like Triton's metrics port, not its HTTP port: use the --http-port, 8000 by default"
    with pytest.raises(ServerError, match=f"Triton at http://{address}: {hint}"):
        RemoteClassifier(address, "cls", ready_timeout_s=10)
    done = subprocess.run(serve_command("--check", f"http://{address}"), capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 1 and done.stderr == "", done.stderr[-2000:]
    assert done.stdout.startswith(f"beit-serve: check failed: http://{address} {hint}"), done.stdout
