"""The types the task classes take as images, named once for their signatures (``beit_runtime.images`` decodes them).

- ``ImageSource``: one image whose type says it is one image: a path (``str`` / ``os.PathLike``), encoded bytes
  (``bytes``, ``bytearray``, ``memoryview``), an open binary file (``BinaryFile``: ``open(path, "rb")``,
  ``io.BytesIO``, ``tempfile.SpooledTemporaryFile``, FastAPI's ``UploadFile.file``; read from where it stands
  to its end) or a ``PIL.Image.Image``. A task method given one returns one result.
- ``ImageLike``: one image of any accepted type: an ``ImageSource`` or a numpy array.
- ``ImageList``: several images, a ``list``, ``tuple`` or iterator (a generator, ``Path.glob(...)``) of
  ``ImageLike`` (mixed types and sizes); a method given one returns a list of results. ``ImageT`` types a list
  whose items are narrower (``list[Path]``: lists are
  invariant, so such a list is not a ``list[ImageLike]``).
- ``Images``: one image or several, for methods whose result has one type either way. Any sequence type-checks;
  at run time only a ``list``, ``tuple`` or iterator is taken as several images (an open file is an iterator of
  lines, but it is one image: whatever has a ``read`` method is read as one encoded image).

A numpy array is one image when it has 2 or 3 dimensions and a batch when it has 4; its type cannot tell which, so
methods typed with overloads return their union for an array.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeAlias, TypeVar

import numpy as np
from PIL import Image


class BinaryFile(Protocol):
    """An open binary file, one encoded image: what has ``read() -> bytes`` (``typing.BinaryIO`` / ``IO[bytes]``).
    A file opened in text mode (its ``read`` gives ``str``) is refused with ``ImageFormatError``."""

    def read(self, size: int = ..., /) -> bytes: ...


ImageSource: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryFile | Image.Image
ImageLike: TypeAlias = ImageSource | np.ndarray
ImageList: TypeAlias = list[ImageLike] | tuple[ImageLike, ...] | Iterator[ImageLike]
Images: TypeAlias = ImageLike | Sequence[ImageLike] | Iterator[ImageLike]
ImageT = TypeVar("ImageT", bound=ImageLike)

__all__ = ["BinaryFile", "ImageLike", "ImageList", "ImageSource", "ImageT", "Images"]
