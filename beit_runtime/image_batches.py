"""How the task classes batch images whose tensors differ in size (recipes that keep the image's size or
aspect ratio on graphs exported with ``--dynamic-resolution``): the smallest tensor a graph can run, the rows of
per-image feeds, and outputs put back in the images' order (``ArtifactModel.run_images``); and how a call's
images argument is read: one image or several (``image_items``), decoded a batch at a time (``decoded_chunks``)
or drawn all at once (``image_list``, for the Remote* clients), an open binary file read as one encoded image
and a URL refused (``load_source``)."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import numpy as np

from .errors import ImageDecodeError, ImageError, ImageFormatError
from .images import load_image, open_image, pil_to_rgb8
from .thread_pool import parallel_map

# "scheme://": what a URL starts with (https://, s3://, gs://, file://)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
Chunks = Iterator[tuple[list[int], list[np.ndarray]]]


def too_small(image_size: Sequence[int], tensor_size: Sequence[int], *, patch: int, grid: int, graph: str) -> str:
    """Why an ``image_size`` image whose tensor is ``tensor_size`` cannot run on ``graph`` (which needs ``grid``
    patches of ``patch`` pixels per side); "" when it can."""
    minimum = patch * grid
    if min(tensor_size) >= minimum:
        return ""
    height, width = image_size
    made = "" if tuple(tensor_size) == (height, width) else f" preprocesses to {tensor_size[0]}x{tensor_size[1]}, which"
    patches = "one patch" if grid == 1 else f"{grid}x{grid} patches"
    return (f"a {height}x{width} (height x width) image{made} is smaller than the {minimum}x{minimum} pixels "
            f"({patches} of {patch} pixels) that {graph} needs at least; pad or resize it to at least "
            f"{minimum}x{minimum} first")


def feed_rows(value: Any, indices: list[int]) -> np.ndarray:
    """The rows ``indices`` of an extra feed: an array's rows, or a sequence's arrays stacked."""
    if isinstance(value, np.ndarray):
        return value[indices]
    return np.stack([np.asarray(value[index]) for index in indices])


def in_input_order(name: str, parts: Sequence[tuple[list[int], np.ndarray]], count: int) -> np.ndarray:
    """One output's batches put back in the images' order; ImageFormatError when their shapes differ."""
    shapes = sorted({value.shape[1:] for _, value in parts})
    if len(shapes) > 1:
        raise ImageFormatError(
            f"the images preprocess to different sizes and give '{name}' of different shapes {shapes}; pass "
            "images of one size per call (or one image per call)"
        )
    first = parts[0][1]
    out = np.empty((count, *first.shape[1:]), dtype=first.dtype)
    for indices, value in parts:
        out[indices] = value
    return out




def image_items(images: Any) -> tuple[Iterable[Any], bool, int | None]:
    """(the images, whether one image was given, how many: None for an iterator, drawn as it is read). A list, a
    tuple, a 4-D array or an iterator (a generator, ``map``, ``Path.glob``) is a batch; an open binary file (an
    iterator of lines, but whatever has ``read``) and anything else is one image."""
    if is_file_object(images):
        return [images], True, 1
    if isinstance(images, (list, tuple)) or (isinstance(images, np.ndarray) and images.ndim == 4):
        if len(images) == 0:
            raise _no_images()
        return images, False, len(images)
    if isinstance(images, Iterator):
        return images, False, None
    return [images], True, 1


def image_list(images: Any) -> tuple[list[Any], bool]:
    """(the images, whether one image was given), all drawn now (``image_items``); an open binary file, alone or in
    a list, read into its bytes."""
    items, single, _ = image_items(images)
    listed = list(items)
    if not listed:
        raise _no_images()
    return [_annotated(_read_if_file, index, item, count=len(listed)) for index, item in enumerate(listed)], single


def decoded_chunks(load: Callable[[Any], np.ndarray], images: Any, *, size: int | None) -> tuple[Chunks, bool]:
    """(per chunk of at most ``size`` images (None: all), in order: their indices and ``load`` of each, on the
    shared pool; whether one image was given). Images are drawn and decoded a chunk at a time, as the caller
    asks for the next: a long list or a generator never has more than one chunk decoded at once. An ImageError
    of a list's item says which one (``index``)."""
    items, single, count = image_items(images)
    return _chunks(load, items, size=size, count=count), single


def _chunks(load: Callable[[Any], np.ndarray], items: Iterable[Any], *, size: int | None, count: int | None) -> Chunks:
    iterator, start = iter(items), 0
    while chunk := list(islice(iterator, size)):
        indices = list(range(start, start + len(chunk)))
        pairs = list(zip(indices, chunk, strict=True))
        yield indices, parallel_map(lambda pair: _annotated(load, *pair, count=count), pairs)
        start += len(chunk)
    if start == 0:
        raise _no_images()


def merged_outputs(parts: Sequence[tuple[list[int], Mapping[str, np.ndarray]]]) -> dict[str, np.ndarray]:
    """Outputs of batches (indices, {name: rows}) as one row per image in input order (``in_input_order``)."""
    if len(parts) == 1:
        return dict(parts[0][1])
    count = sum(len(indices) for indices, _ in parts)
    return {name: in_input_order(name, [(indices, found[name]) for indices, found in parts], count)
            for name in parts[0][1]}


def _no_images() -> ImageFormatError:
    return ImageFormatError("no images given; pass one image or a non-empty list of images")


def _annotated(function: Callable[[Any], Any], index: int, item: Any, *, count: int | None) -> Any:
    """``function(item)``; an ImageError of an item of several (``count``: None for an iterator) says which one."""
    try:
        return function(item)
    except ImageError as error:
        if count != 1:
            of = "" if count is None else f" (of {count})"
            error.args = (f"image at index {index}{of}: {error}", *error.args[1:])
            error.index = index
        raise


# ----------------------------------------------------------------- one image
def is_file_object(value: Any) -> bool:
    """Whether ``value`` is an open file (or file-like object: ``io.BytesIO``, an upload's ``file``): it has
    ``read``."""
    return callable(getattr(value, "read", None))


def load_source(source: Any, *, channel_order: str = "rgb", exif_orientation: bool = True) -> np.ndarray:
    """``images.load_image`` of one image, and what the task classes take beside it: an open binary file, read
    from where it stands to its end and decoded as encoded bytes; a URL string is refused (``ImageDecodeError``:
    nothing is fetched)."""
    if is_file_object(source):
        data, origin = file_bytes(source)
        return pil_to_rgb8(open_image(data, origin=origin, exif_orientation=exif_orientation), decoded=True)
    if isinstance(source, str) and _URL.match(source) and not os.path.exists(source):
        raise ImageDecodeError(
            f"{source} is a URL; URLs are not fetched (transformers' load_image fetches them, beit_runtime does "
            "not): download it first, e.g. `curl -o image.jpg URL`, or pass its bytes "
            "(urllib.request.urlopen(url).read(), requests.get(url).content)")
    return load_image(source, channel_order=channel_order, exif_orientation=exif_orientation)


def file_bytes(source: Any) -> tuple[bytes, str]:
    """(the bytes an open binary file holds from where it stands to its end, what errors call it);
    ImageFormatError for a file opened in text mode, ImageDecodeError when it cannot be read or gives nothing."""
    name = getattr(source, "name", None)
    origin = f"the open file {name}" if isinstance(name, str) else f"the {type(source).__name__}"
    text_mode = (f"{origin} is open in text mode; open it in binary mode (open(path, 'rb')) or pass its path: "
                 "an image is bytes")
    if isinstance(source, io.TextIOBase):
        raise ImageFormatError(text_mode)
    try:
        data = source.read()
    except (OSError, ValueError) as error:  # closed, not readable
        raise ImageDecodeError(f"cannot read an image from {origin}: {error}") from error
    if isinstance(data, str):
        raise ImageFormatError(text_mode)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageFormatError(f"{origin}'s read() gave a {type(data).__name__}, not bytes; pass an open binary "
                               "file, the bytes, or a path")
    if not data:
        raise ImageDecodeError(f"{origin} gave no bytes: it is empty, or was read to its end already (seek(0) "
                               "to read it again)")
    return bytes(data), origin


def _read_if_file(item: Any) -> Any:
    """The bytes of an open binary file (``file_bytes``), anything else as it is."""
    return file_bytes(item)[0] if is_file_object(item) else item
