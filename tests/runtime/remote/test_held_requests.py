"""A call holds at most ``max_in_flight`` encoded images, however many it is given: each image is read and encoded
only when its request is sent, once an earlier answer was handed back (200 paths of a 9 MB PNG took 3.3 GB when
every request was built first). Checked by counting, never by timing: when the k-th request is drawn, at most
``max_in_flight`` - 1 of the earlier ones may be unanswered."""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import pytest

from beit_runtime.errors import ImageDecodeError
from beit_runtime.remote import RemoteClassifier
from beit_runtime.remote.transport import Transport

PROTOCOLS = ("http", "grpc")
MAX_IN_FLIGHT = 3
IMAGES = 12


def url(served, protocol: str) -> str:
    return served.http if protocol == "http" else f"grpc://{served.grpc}"


class CountedPath(os.PathLike):
    """An image path that notes, each time it is opened, how many answers were handed back by then."""

    def __init__(self, path: str, index: int, opened: dict[int, int], answered: list[object]) -> None:
        self.path, self.index, self.opened, self.answered = path, index, opened, answered

    def __fspath__(self) -> str:
        self.opened[self.index] = len(self.answered)  # the last time: when it is read to be sent
        return self.path

    def __str__(self) -> str:
        return self.path


def held_when_drawn(opened: dict[int, int]) -> list[int]:
    """Per request: how many requests were held (drawn, not handed back) when it was drawn, itself included."""
    return [index - answered + 1 for index, answered in sorted(opened.items())]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_transport_draws_a_request_only_when_one_is_free(served, protocol, photo_bytes):
    drawn: dict[int, int] = {}
    answered: list[object] = []

    def requests() -> Iterator[dict[str, np.ndarray]]:
        for index in range(IMAGES):
            drawn[index] = len(answered)
            yield {"image": np.array([[photo_bytes[index % len(photo_bytes)]]], dtype=object)}

    transport = Transport(url(served, protocol), max_in_flight=MAX_IN_FLIGHT)
    try:
        for output in transport.infer_iter("cls", requests(), ["labels"]):
            answered.append(output)
    finally:
        transport.close()
    assert len(answered) == IMAGES and max(held_when_drawn(drawn)) == MAX_IN_FLIGHT, drawn


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_classifier_reads_each_image_when_it_sends_it(served, protocol, photo_bytes, tmp_path):
    files = []
    for index, data in enumerate(photo_bytes):
        files.append(tmp_path / f"photo{index}.jpg")
        files[-1].write_bytes(data)
    opened: dict[int, int] = {}
    answered: list[object] = []
    with RemoteClassifier(url(served, protocol), "cls", max_in_flight=MAX_IN_FLIGHT) as remote:
        want = [remote(path, top_k=2) for path in files]
        stream = remote.transport.infer_iter

        def counted(*args, **kwargs):  # what the client hands back, counted as it passes (the server is real)
            for output in stream(*args, **kwargs):
                answered.append(output)
                yield output
        remote.transport.infer_iter = counted
        paths = [CountedPath(str(files[index % len(files)]), index, opened, answered) for index in range(IMAGES)]
        got = remote(paths, top_k=2)
    for index, predictions in enumerate(got):  # in order (scores: batched with other requests or not)
        expected = want[index % len(files)]
        assert [(p.label, p.id) for p in predictions] == [(p.label, p.id) for p in expected]
        np.testing.assert_allclose([p.score for p in predictions], [p.score for p in expected], rtol=0, atol=1e-6)
    assert max(held_when_drawn(opened)) <= MAX_IN_FLIGHT, opened


def test_a_missing_file_is_named_before_any_request(served, photo_bytes, tmp_path):
    good = tmp_path / "good.jpg"
    good.write_bytes(photo_bytes[0])
    with RemoteClassifier(served.http, "cls", max_in_flight=1) as remote, \
            pytest.raises(ImageDecodeError, match=f"image file {tmp_path / 'missing.jpg'} does not exist"):
        remote([good, good, tmp_path / "missing.jpg"])
