"""The python models' limits, against the real Triton server of the session (``served``; repositories written
with ``beit-export triton``'s defaults): an image over the repository's ``--max-image-pixels`` (25,000,000) is
refused from its header with an InputError naming the limit and the option; values no image has (NaN,
infinity) sent straight to an inner model are refused; the segmentation post-processing gives back the memory
a large image took (ONNX Runtime's CPU arena is off there). The server keeps answering right after each."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

from beit_runtime import Classifier
from beit_runtime.errors import InputError
from beit_runtime.remote import RemoteClassifier, RemoteSegmenter
from beit_runtime.remote.transport import Transport
from beit_runtime.serving.stubs import stub_processes
from tests.runtime.serving.test_bad_requests import images, png_declaring
from tests.runtime.serving.triton_server import signature

LIMIT = 25_000_000  # serving_protocol.DEFAULT_MAX_IMAGE_PIXELS


@pytest.fixture(scope="module")
def want(beit_classifier_artifact, photo_bytes) -> list[tuple[str, int, float]]:
    with Classifier(beit_classifier_artifact, batch_size=1) as local:
        return signature(local(photo_bytes[0], top_k=5))


def answers_right(served, photo: bytes, want) -> None:
    with RemoteClassifier(served.http, "cls") as remote:
        assert [signature(remote(photo, top_k=5)) for _ in range(2)] == [want] * 2


@pytest.mark.parametrize("size", [(5001, 5000), (8000, 6000), (9000, 9000)])
def test_an_image_over_the_repository_limit_is_refused_naming_the_option(served, photo_bytes, want, size):
    transport = Transport(served.http)
    try:
        with pytest.raises(InputError) as caught:
            transport.infer_many("cls", [images(png_declaring(*size))], ["labels"])
    finally:
        transport.close()
    pixels = size[0] * size[1]
    assert type(caught.value) is InputError
    assert f"declares {size[0]}x{size[1]} = {pixels:,} pixels, over this server's limit of {LIMIT:,}" in str(
        caught.value)
    assert "beit-export triton --max-image-pixels N" in str(caught.value)
    answers_right(served, photo_bytes[0], want)


def test_an_image_of_exactly_the_limit_is_served(served):
    """The boundary: 5000x5000 = 25,000,000 pixels is answered (5001x5000 is refused, above)."""
    transport = Transport(served.http)
    try:
        answer = transport.infer_many("cls", [images(png_declaring(5000, 5000))], ["labels"])
    finally:
        transport.close()
    assert answer[0]["labels"].shape == (1, 5)


def infer(served, model: str, feeds: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
    client = http.InferenceServerClient(served.http, network_timeout=120)
    inputs = []
    for name, value in feeds.items():
        inputs.append(http.InferInput(name, list(value.shape), "FP32" if value.dtype == np.float32 else "INT32"))
        inputs[-1].set_data_from_numpy(value)
    result = client.infer(model, inputs, outputs=[http.InferRequestedOutput(name) for name in outputs])
    return {name: result.as_numpy(name) for name in outputs}


def pixels(value: float) -> np.ndarray:
    return np.full((1, 3, 32, 32), value, dtype=np.float32)


def logits(value: float) -> np.ndarray:
    row = np.zeros((1, 10), dtype=np.float32)
    row[0, :2] = value
    return row


@pytest.mark.parametrize(("model", "name", "value", "outputs"), [
    ("cls_engine", "pixel_values", pixels(np.nan), ["logits"]),
    ("cls_engine", "pixel_values", pixels(np.inf), ["logits"]),
    ("cls_postprocess", "logits", logits(np.nan), ["labels", "scores", "class_ids"]),
    ("cls_postprocess", "logits", logits(-np.inf), ["labels", "scores", "class_ids"]),
], ids=["engine-nan", "engine-inf", "postprocess-nan", "postprocess-minus-inf"])
def test_non_finite_values_sent_to_an_inner_model_are_refused(served, photo_bytes, want, model, name, value,
                                                              outputs):
    with pytest.raises(InferenceServerException) as caught:
        infer(served, model, {name: value}, outputs)
    assert str(caught.value.status()) == "400"
    assert f"[beit_runtime.InputError] input '{name}' holds NaN or infinite values" in caught.value.message()
    finite = infer(served, model, {name: np.zeros_like(value)}, outputs)  # the same model answers finite values
    assert all(np.all(np.isfinite(v)) for v in finite.values() if v.dtype.kind == "f")
    answers_right(served, photo_bytes[0], want)


def _status_mib(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"/proc/{pid}/status has no {key}")


def test_segmentation_postprocess_gives_memory_back_after_a_large_image(served, tmp_path):
    """A 4032x3024 image (a 12 MP phone photo) takes hundreds of MiB in seg_postprocess (logits at the image's
    size); with ONNX Runtime's CPU arena on, the stub kept them (2.6 GB after 9000x9000), now they go back."""
    port = served.http.rsplit(":", 1)[1]
    stubs = {model: pid for pid, model in stub_processes(f"beit_serve_{served.process.pid}_{port}_").items()}
    pid = stubs["seg_postprocess"]
    x = np.linspace(0, 255, 4032, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, 3024, dtype=np.float32)[:, None]
    image = np.stack(np.broadcast_arrays(x, y, (x + y) / 2), axis=-1).astype(np.uint8)
    photo = tmp_path / "phone.jpg"
    cv2.imwrite(str(photo), image)
    with RemoteSegmenter(served.http, "seg", timeout_s=300) as remote:
        remote(photo)  # the first large request grows what the stub keeps for itself (numpy, Triton's buffers)
        before = _status_mib(pid, "VmRSS")
        Path(f"/proc/{pid}/clear_refs").write_text("5", encoding="utf-8")  # resets VmHWM to the current RSS
        assert remote(photo).labels.shape == (3024, 4032)
    peak, after = _status_mib(pid, "VmHWM"), _status_mib(pid, "VmRSS")
    assert peak - before > 200, (before, peak, after)  # the request did take that memory
    assert after - before < 64, (before, peak, after)  # and it went back
