"""What the task classes take as images beside ``load_image``'s sources: open binary files (one image each, not
batches of lines), URLs (refused, not read as paths), uint16 arrays whose range says 8- or 12-bit data (refused,
not made black), and lists and generators decoded a batch at a time."""

from __future__ import annotations

import io
import tempfile

import cv2
import numpy as np
import pytest
from PIL import Image

from beit_runtime import Classifier
from beit_runtime.errors import ImageDecodeError, ImageFormatError
from beit_runtime.image_batches import image_list, load_source
from beit_runtime.images import load_image

IMAGE = np.random.default_rng(3).integers(0, 256, (24, 20, 3), dtype=np.uint8)


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "PNG")
    return buffer.getvalue()


def test_open_binary_files_are_one_image_each(beit_classifier_artifact, tmp_path):
    """FastAPI's UploadFile.file (a SpooledTemporaryFile), a BytesIO or open(path, "rb") was iterated line by line
    as a batch: "image at index 0 (of 541) ... no image format matches"."""
    path = tmp_path / "image.png"
    path.write_bytes(_png(IMAGE))
    with Classifier(beit_classifier_artifact) as classifier, open(path, "rb") as opened, \
            tempfile.SpooledTemporaryFile() as spooled:
        spooled.write(path.read_bytes())
        spooled.seek(0)
        expected = classifier(str(path), top_k=2)
        for source in (opened, io.BytesIO(path.read_bytes()), spooled):
            assert classifier(source, top_k=2) == expected
        assert classifier([io.BytesIO(path.read_bytes()), str(path)], top_k=2) == [expected, expected]
        np.testing.assert_array_equal(image_list(io.BytesIO(path.read_bytes()))[0][0], path.read_bytes())


def test_unusable_files_say_why(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not an image\n")
    with open(path, encoding="utf-8") as text, pytest.raises(ImageFormatError, match=r"notes\.txt is open in text "
                                                                                      r"mode; open it in binary"):
        load_source(text)
    with pytest.raises(ImageDecodeError, match=r"gave no bytes: it is empty, or was read to its end.*seek\(0\)"):
        load_source(io.BytesIO(_png(IMAGE)[:0]))
    closed = open(path, "rb")  # noqa: SIM115
    closed.close()
    with pytest.raises(ImageDecodeError, match=r"cannot read an image from the open file .*notes\.txt"):
        load_source(closed)
    with pytest.raises(ImageDecodeError, match=r"^the BytesIO is not a decodable image"):
        load_source(io.BytesIO(b"GIF89a broken"))
    with pytest.raises(ImageDecodeError, match=r"^image at index 1 \(of 2\): the BytesIO gave no bytes"):
        image_list([io.BytesIO(_png(IMAGE)), io.BytesIO()])  # as the Remote* clients read a list


def test_a_bad_file_among_a_list_is_named_by_its_index(beit_classifier_artifact):
    message = r"^image at index 1 \(of 2\): the BytesIO is not a decodable"
    with Classifier(beit_classifier_artifact) as classifier, pytest.raises(ImageDecodeError, match=message) as caught:
        classifier([io.BytesIO(_png(IMAGE)), io.BytesIO(b"GIF89a broken")])
    assert caught.value.index == 1


@pytest.mark.parametrize("url", ["https://example.com/x.jpg", "s3://bucket/x.png"])
def test_urls_are_refused_not_read_as_paths(url):
    """A URL became the path "https:/example.com/x.jpg" (its double slash collapsed), which "does not exist"."""
    with pytest.raises(ImageDecodeError, match=rf"^{url} is a URL; URLs are not fetched.*download it first"):
        load_source(url)


def test_uint16_arrays_of_8_or_12_bit_data_are_refused_full_range_keeps_the_high_byte(beit_classifier_artifact):
    """astype(np.uint16) of 8-bit data kept its high byte, 0: a black image classified without a word."""
    for data, fix in ((IMAGE.astype(np.uint16), r"a\.astype\(np\.uint8\)"),
                      (IMAGE.astype(np.uint16) * 16, r"\(a >> 4\)\.astype\(np\.uint8\)")):
        with pytest.raises(ImageFormatError, match=rf"at most {int(data.max())}, which looks like 8- or 12-bit.*{fix}"):
            load_image(data)
    dark = r"at most 0, which looks like 8- or 12-bit data.*if it really is a dark 16-bit frame, pass \(a >> 8\)"
    with pytest.raises(ImageFormatError, match=dark):  # an all-black 16-bit frame may be real: it says how to keep it
        load_image(np.zeros((40, 40, 3), np.uint16))
    np.testing.assert_array_equal(load_image(IMAGE.astype(np.uint16) * 257), IMAGE)  # full 16-bit range
    with Classifier(beit_classifier_artifact) as classifier, \
            pytest.raises(ImageFormatError, match=r"^image at index 1 \(of 2\): uint16 image array"):
        classifier([IMAGE, IMAGE.astype(np.uint16)])


def test_16_bit_files_and_pil_images_of_low_values_are_decoded_not_refused():
    """A real 16-bit grayscale PNG of 12-bit data is kept: its high byte (dark), as README says."""
    twelve_bit = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096)
    ok, encoded = cv2.imencode(".png", twelve_bit)
    assert ok
    decoded = load_image(encoded.tobytes())
    np.testing.assert_array_equal(decoded[:, :, 0], (twelve_bit >> 8).astype(np.uint8))
    pil = Image.frombytes("I;16", (64, 64), twelve_bit.astype("<u2").tobytes())
    np.testing.assert_array_equal(load_image(pil), decoded)


class _Recording(Classifier):
    """A Classifier that notes each run_images call among the events of a test."""

    events: list[tuple[str, int]]

    def run_images(self, images, extra=None, *, outputs=None):
        self.events.append(("run", len(images)))
        return super().run_images(images, extra, outputs=outputs)


def test_generators_and_lists_are_decoded_a_batch_at_a_time(beit_classifier_artifact):
    """A list or generator was decoded whole before the first batch ran: 40 photos of 6 MP held 800 MB."""
    images = [np.roll(IMAGE, 5 * index, axis=1) for index in range(7)]
    with _Recording(beit_classifier_artifact, batch_size=3) as classifier:
        classifier.events = []
        expected = [classifier(image, top_k=1) for image in images]
        classifier.events.clear()

        def drawn():
            for index, image in enumerate(images):
                classifier.events.append(("drawn", index))
                yield image

        assert classifier(drawn(), top_k=1) == expected
        assert classifier.events == [("drawn", 0), ("drawn", 1), ("drawn", 2), ("run", 3), ("drawn", 3),
                                     ("drawn", 4), ("drawn", 5), ("run", 3), ("drawn", 6), ("run", 1)]
        assert classifier(images, top_k=1) == expected
        bad = (image.astype(np.float32) if index == 4 else image for index, image in enumerate(images))
        with pytest.raises(ImageFormatError, match=r"^image at index 4: float image arrays") as caught:
            classifier(bad)
        assert caught.value.index == 4
