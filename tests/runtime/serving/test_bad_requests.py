"""Bad requests against the real server (issue 19, item 4), over HTTP and gRPC: each gets an error response
naming the problem, as one of beit_runtime's typed errors; clients sending good requests at the same time all
get right answers; the server answers correctly afterwards.

Limits under test (``beit_runtime/triton_models/preprocess.py``): an encoded image over 64 MiB is refused
before it is decoded (``InputError``; exactly 64 MiB is served); an image whose header declares more than
the repository's ``--max-image-pixels`` (default 25,000,000) is refused before its pixels are decoded
(``InputError``), so a few-KB PNG declaring 30000x30000 costs nothing. Triton itself refuses a wrong shape,
datatype or input name and a batch over ``max_batch_size`` (8) with HTTP 400 / gRPC INVALID_ARGUMENT
(``InputError``). Transport limits: Triton
2.51 has no HTTP body limit (a 256 MiB body reaches the preprocess model, which refuses it); its gRPC server
raises gRPC's 4 MiB default receive limit to 2 GiB - 1 (``MAX_GRPC_MESSAGE_SIZE``, as tritonclient's channel
does), so a 256 MiB message reaches the model the same way.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

import numpy as np
import pytest
from tritonclient.utils import InferenceServerException

from beit_runtime import Classifier
from beit_runtime.errors import BeitDeployError, ImageDecodeError, InputError
from beit_runtime.remote import RemoteClassifier
from beit_runtime.remote.transport import Transport
from tests.runtime.serving.triton_server import ClientLoad, signature

PROTOCOLS = ("http", "grpc")
INVALID = {"http": "400", "grpc": "StatusCode.INVALID_ARGUMENT"}
MAX_IMAGE_MB = 64  # preprocess.MAX_IMAGE_BYTES (that module imports Triton's stub utilities: not importable here)
MAX_BATCH_SIZE = 8  # the repositories' max_batch_size (beit-export triton's default)
Feeds = dict[str, np.ndarray]


def png_declaring(width: int, height: int) -> bytes:
    """A valid PNG header declaring ``width`` x ``height`` RGB, with only its first rows of (zero) pixels:
    a few KB that declare width * height * 3 bytes of pixels."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(bytes(1 + 3 * width) * 4, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def jpeg_of_size(photo: bytes, size: int) -> bytes:
    """``photo`` (a JPEG) padded with zeros after its end marker to ``size`` bytes: Pillow decodes it as ``photo``."""
    return photo + bytes(size - len(photo))


def images(*rows: bytes) -> Feeds:
    return {"image": np.array([[row] for row in rows], dtype=object)}


# name: (the request, from the photo; the typed error; what its message must say)
BAD_REQUESTS: dict[str, tuple[Callable[[bytes], Feeds], type[BeitDeployError], str]] = {
    "over_64_MiB": (lambda photo: images(jpeg_of_size(photo, MAX_IMAGE_MB * 2**20 + 1)), InputError,
                    r"an encoded image of 64\.0 MiB is over this server's limit of 64 MiB per image"),
    "png_bomb_30000x30000": (lambda photo: images(png_declaring(30000, 30000)), InputError,
                             r"declares 30000x30000 = 900,000,000 pixels, over this server's limit of 25,000,000"),
    "png_10000x10000": (lambda photo: images(png_declaring(10000, 10000)), InputError,  # Pillow only warns here
                        r"declares 10000x10000 = 100,000,000 pixels, over this server's limit"),
    "undecodable": (lambda photo: images(b"not an image"), ImageDecodeError, "not a decodable image"),
    "wrong_shape": (lambda photo: {"image": np.array([[photo, photo]], dtype=object)}, InputError,
                    r"unexpected shape for input 'image' for model 'cls'\. Expected \[-1,1\], got \[1,2\]"),
    "wrong_dtype": (lambda photo: {"image": np.zeros((1, 1), dtype=np.float32)}, InputError,
                    "data-type is 'FP32', but model 'cls' expects 'BYTES'"),
    "wrong_input_name": (lambda photo: {"img": np.array([[photo]], dtype=object)}, InputError,
                         "unexpected inference input 'img'"),
    "batch_over_max": (lambda photo: images(*[photo] * (MAX_BATCH_SIZE + 1)), InputError,
                       f"batch-size must be <= {MAX_BATCH_SIZE} for 'cls'"),
}


def address(served, protocol: str) -> str:
    return f"http://{served.http}" if protocol == "http" else f"grpc://{served.grpc}"


@pytest.fixture(scope="module")
def photo(photo_bytes) -> bytes:
    return photo_bytes[0]  # a JPEG


@pytest.fixture(scope="module")
def want(beit_classifier_artifact, photo) -> list[tuple[str, int, float]]:
    """The in-process answer for ``photo`` (what every good request must get)."""
    with Classifier(beit_classifier_artifact, batch_size=1) as local:
        return signature(local(photo, top_k=5))


def labels_of(transport: Transport, feeds: Feeds) -> np.ndarray:
    return transport.infer_many("cls", [feeds], ["labels"])[0]["labels"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_a_bad_request_gets_an_error_naming_the_problem(served, protocol, case, photo):
    make, error, message = BAD_REQUESTS[case]
    transport = Transport(address(served, protocol))
    try:
        with pytest.raises(error, match=message) as caught:
            labels_of(transport, make(photo))
    finally:
        transport.close()
    assert type(caught.value) is error
    cause = caught.value.__cause__
    assert isinstance(cause, InferenceServerException) and str(cause.status()) == INVALID[protocol]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_image_of_exactly_64_MiB_is_served(served, protocol, photo, want):
    """The byte limit's boundary: 64 MiB is answered as the photo it holds, one byte more is refused (above)."""
    with RemoteClassifier(address(served, protocol), "cls") as remote:
        assert signature(remote(jpeg_of_size(photo, MAX_IMAGE_MB * 2**20), top_k=5)) == want


def test_a_dtype_triton_has_no_name_for_is_refused_before_sending(served):
    transport = Transport(address(served, "http"))
    try:
        with pytest.raises(InputError, match="dtype complex64 has no Triton datatype"):
            labels_of(transport, {"image": np.zeros((1, 1), dtype=np.complex64)})
    finally:
        transport.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_other_clients_are_unaffected_and_the_server_answers_afterwards(served, protocol, photo, want):
    """Two HTTP and two gRPC clients send good requests while one client sends every bad request and a 256 MiB
    one (over ``protocol``): each bad one gets its error, no good one fails or gets a wrong answer."""
    loads = [ClientLoad(url, photo, want, clients=2, busy=2, warmup=2).start()
             for url in (served.http, f"grpc://{served.grpc}")]
    answered_before = [load.correct for load in loads]
    transport = Transport(address(served, protocol))
    try:
        for make, error, message in [*BAD_REQUESTS.values(), (lambda photo: images(jpeg_of_size(photo, 256 * 2**20)),
                                                              InputError, r"256\.0 MiB is over this server's limit")]:
            with pytest.raises(error, match=message):
                labels_of(transport, make(photo))
    finally:
        transport.close()
        for load in loads:
            load.stop()
    for load, before in zip(loads, answered_before, strict=True):
        assert load.errors == [] and load.wrong == [], (load.errors[:3], load.wrong[:3])
        assert load.correct > before  # good requests were answered while the bad ones were sent
    with RemoteClassifier(address(served, protocol), "cls") as remote:
        assert [signature(remote(photo, top_k=5)) for _ in range(3)] == [want] * 3


def test_a_bad_request_batched_with_good_ones_fails_alone(served):
    """Requests sent at once to ``seg_postprocess`` are batched (dynamic batching, 5 ms): an impossible
    original_size gets its own INVALID_ARG naming it, the good requests of its batch their label maps."""
    import tritonclient.http as http

    client = http.InferenceServerClient(served.http, concurrency=16)
    logits = np.random.default_rng(0).standard_normal((1, 10, 16, 16)).astype(np.float32)

    def request(size: list[int]):
        inputs = [http.InferInput("logits", list(logits.shape), "FP32"),
                  http.InferInput("original_size", [1, 2], "INT32")]
        inputs[0].set_data_from_numpy(logits)
        inputs[1].set_data_from_numpy(np.array([size], dtype=np.int32))
        return client.async_infer("seg_postprocess", inputs)

    sizes = [[0, 0] if index % 3 == 1 else [20 + index, 30] for index in range(12)]
    pending = [request(size) for size in sizes]
    try:
        for size, answer in zip(sizes, pending, strict=True):
            if size == [0, 0]:
                with pytest.raises(InferenceServerException) as caught:
                    answer.get_result()
                assert str(caught.value.status()) == "400"
                assert "'original_size' [0, 0] is not an image size" in caught.value.message()
            else:
                assert answer.get_result().as_numpy("segmentation").shape == (1, *size)
    finally:
        client.close()
