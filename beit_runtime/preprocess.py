"""The manifest-driven preprocessor: transformers' PIL-backend image processors
(``BeitImageProcessorPil`` / ``ViTImageProcessorPil``, transformers 5.23) without transformers.

The reference pipeline, per image, on uint8 RGB:

1. resize with ``PIL.Image.resize`` to ``size`` ({"height", "width"}, or {"shortest_edge"}
   [+ "longest_edge"] keeping the aspect ratio with transformers' truncating arithmetic);
2. center crop to ``crop_size`` when ``do_center_crop`` (zero padding where the image is smaller);
3. rescale: ``(uint8 as float64 * rescale_factor)`` cast to float32;
4. normalize in float32: ``(x - float32(mean)) / float32(std)``.

Step 1 calls the very function the reference calls, ``PIL.Image.resize`` of the installed Pillow, on
the same RGB image, so the resized pixels are identical by construction (OpenCV's resize is a different
function: up to 98 levels off). Steps 3-4 depend only on the 8-bit value and the channel, so they are
a (3, 256) float32 table computed with the very same numpy operations and applied per channel with
OpenCV's ``LUT`` (a plain table lookup: one uint8 read and one float32 write per value, 1.2-1.6x faster
than ``np.take`` at 640x640) straight into the output tensor: the output equals the processor's tensor
bit for bit. ``batch``
preprocesses several images on a process-wide thread pool (Pillow's resize, the bulk of the work,
releases the GIL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .errors import ImageFormatError, InputError, PreprocessingRecordError
from .manifest import REEXPORT_HINT, Manifest, PreprocessingRecord
from .thread_pool import parallel_map

PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
RESAMPLE_FILTERS = tuple(PIL_FILTERS)

# the values a recipe must give: those the manifest's preprocessing section requires (``PreprocessingRecord``)
_REQUIRED = tuple(item.name for item in fields(PreprocessingRecord)
                  if item.default is MISSING and item.default_factory is MISSING)


def _bad(message: str) -> PreprocessingRecordError:
    return PreprocessingRecordError(f"manifest preprocessing record: {message}; {REEXPORT_HINT}", reason=message)


def _size_dict(value: Any, *, name: str) -> dict[str, int]:
    allowed = ({"height", "width"}, {"shortest_edge"}, {"shortest_edge", "longest_edge"})
    if not isinstance(value, Mapping) or set(value) not in allowed:
        raise _bad(f"'{name}' must be {{'height', 'width'}} or {{'shortest_edge'[, 'longest_edge']}}, got {value!r}")
    if not all(isinstance(v, int) and v > 0 for v in value.values()):
        raise _bad(f"'{name}' values must be positive integers, got {value!r}")
    return dict(value)


def _finite_number(value: Any) -> bool:
    """A real number (not a bool or a string) that is not NaN or infinite."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value))


def aspect_preserving_size(height: int, width: int, shortest: int, longest: int | None) -> tuple[int, int]:
    """transformers' ``get_resize_output_image_size`` / ``get_size_with_aspect_ratio`` arithmetic."""
    if longest is None:
        short, long = (width, height) if width <= height else (height, width)
        new_short, new_long = shortest, int(shortest * long / short)
        return (new_long, new_short) if width <= height else (new_short, new_long)
    raw = None
    low, high = float(min(height, width)), float(max(height, width))
    if high / low * shortest > longest:
        raw = longest * low / high
        shortest = round(raw)
    if (height <= width and height == shortest) or (width <= height and width == shortest):
        return height, width
    scale = raw if raw is not None else shortest
    if width < height:
        return int(scale * height / width), shortest
    return shortest, int(scale * width / height)


@dataclass(frozen=True, kw_only=True)
class Preprocessor:
    """Images (HxWx3 uint8 RGB) -> normalized float32 CHW tensors, as the checkpoint's processor makes them.

    Every value of the recipe is required: the runtime never assumes a model's preprocessing, it takes the one
    the artifact's manifest records (``from_manifest``, ``from_record``)."""

    do_resize: bool
    size: Mapping[str, int]
    resample: str
    do_center_crop: bool = False
    crop_size: Mapping[str, int] | None = None
    do_rescale: bool
    rescale_factor: float
    do_normalize: bool
    image_mean: Sequence[float]
    image_std: Sequence[float]
    # (3, 256) float32: per channel, the output for each 8-bit value; computed in __post_init__
    _table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.resample not in RESAMPLE_FILTERS:
            raise _bad(f"'resample' must be one of {RESAMPLE_FILTERS}, got {self.resample!r}")
        _size_dict(self.size, name="size")
        if self.do_center_crop:
            crop = _size_dict(self.crop_size, name="crop_size")
            if set(crop) != {"height", "width"}:
                raise _bad(f"'crop_size' must have 'height' and 'width', got {self.crop_size!r}")
        for name in ("image_mean", "image_std"):
            values = getattr(self, name)
            if not isinstance(values, Sequence) or len(values) != 3 or not all(map(_finite_number, values)):
                raise _bad(f"'{name}' must be a list of 3 finite numbers, got {values!r}")
        if self.do_normalize and any(float(s) == 0.0 for s in self.image_std):
            raise _bad(f"'image_std' must be non-zero, got {list(self.image_std)}")
        if self.do_rescale and not (_finite_number(self.rescale_factor) and float(self.rescale_factor) > 0):
            raise _bad(f"'rescale_factor' must be a finite number > 0 (1/255 for 8-bit), got {self.rescale_factor!r}")
        object.__setattr__(self, "_table", self._value_table())

    @classmethod
    def from_manifest(cls, manifest: Manifest | PreprocessingRecord | Mapping[str, Any]) -> Preprocessor:
        """Build from a Manifest, its parsed preprocessing record, a manifest dict, or a "preprocessing" dict."""
        if isinstance(manifest, (Manifest, PreprocessingRecord)):
            return cls.from_record(manifest.preprocessing if isinstance(manifest, Manifest) else manifest)
        record = manifest.get("preprocessing", manifest) if isinstance(manifest, Mapping) else manifest
        if not isinstance(record, Mapping):
            raise _bad(f"expected a mapping, got {type(record).__name__}")
        missing = [key for key in _REQUIRED if key not in record]
        if missing:
            raise _bad(f"missing {', '.join(missing)}")
        return cls._checked(record)

    @classmethod
    def from_record(cls, record: PreprocessingRecord) -> Preprocessor:
        """Build from the manifest's parsed preprocessing record (which has every required value)."""
        return cls._checked(record.to_json())

    @classmethod
    def _checked(cls, record: Mapping[str, Any]) -> Preprocessor:
        if record.get("channel_order", "rgb") != "rgb":
            raise _bad(f"'channel_order' must be 'rgb', got {record['channel_order']!r}")
        return cls(**{name: record[name] for name in cls.__dataclass_fields__ if name in record})

    def _value_table(self) -> np.ndarray:
        """Per channel, the processor's float32 output for each 8-bit value (same numpy ops as transformers)."""
        values = np.arange(256, dtype=np.uint8)
        table = np.repeat(values[None, :], 3, axis=0)
        if self.do_rescale:
            table = (table.astype(np.float64) * self.rescale_factor).astype(np.float32)
        if self.do_normalize:
            table = table.astype(np.float32) if not np.issubdtype(table.dtype, np.floating) else table
            mean = np.array(list(self.image_mean), dtype=table.dtype)
            std = np.array(list(self.image_std), dtype=table.dtype)
            table = ((table.T - mean) / std).T
        return np.ascontiguousarray(table, dtype=np.float32)

    def resized_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) after the resize step for an input of the given size."""
        if not self.do_resize:
            return height, width
        if "height" in self.size:
            return int(self.size["height"]), int(self.size["width"])
        return aspect_preserving_size(height, width, self.size["shortest_edge"], self.size.get("longest_edge"))

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """(height, width) of the tensor made from an input of the given size."""
        crop = self._crop_size()
        return crop if crop is not None else self.resized_size(height, width)

    @property
    def fixed_output_size(self) -> tuple[int, int] | None:
        """(height, width) every tensor has (a fixed resize or a centre crop); None when it follows the image."""
        crop = self._crop_size()
        if crop is not None:
            return crop
        return (int(self.size["height"]), int(self.size["width"])) if self.do_resize and "height" in self.size else None

    def size_groups(self, images: Sequence[np.ndarray]) -> list[list[int]]:
        """The indices of ``images`` grouped by the size of their tensors (each group one batch's worth of one
        size), groups in the order of their first image: what to run together when sizes differ."""
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            _check_rgb8(image)
            groups.setdefault(self.output_size(image.shape[0], image.shape[1]), []).append(index)
        return list(groups.values())

    def _crop_size(self) -> tuple[int, int] | None:
        """(height, width) of the center crop; None without one (``crop_size`` is checked when made)."""
        if not self.do_center_crop or self.crop_size is None:
            return None
        return int(self.crop_size["height"]), int(self.crop_size["width"])

    def pixels(self, image: np.ndarray) -> np.ndarray:
        """Resize + crop only: the (H, W, 3) uint8 image the processor then rescales and normalizes
        (a read-only array when it was resized)."""
        _check_rgb8(image)
        if self.do_resize:
            height, width = self.resized_size(image.shape[0], image.shape[1])
            image = pillow_resize(image, height, width, resample=self.resample)
        crop = self._crop_size()
        if crop is not None:
            image = center_crop(image, *crop)
        return image

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """One HxWx3 uint8 RGB image -> (3, H, W) float32."""
        pixels = self.pixels(image)
        out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
        self._normalize_into(pixels, out)
        return out

    def _normalize_into(self, pixels: np.ndarray, out: np.ndarray) -> None:
        """Rescale + normalize (H, W, 3) uint8 into ``out`` (3, H, W) float32 by table lookup."""
        for channel, plane in enumerate(cv2.split(pixels)):
            cv2.LUT(plane, self._table[channel : channel + 1], dst=out[channel])

    def batch(self, images: Sequence[np.ndarray], *, parallel: bool = True) -> np.ndarray:
        """Several images -> (N, 3, H, W) float32; all must come out at the same size (``size_groups`` groups
        images by size; the task classes run each group as its own batch).

        Sizes are checked before any work. Each image is resized and normalized straight into its
        slot of the output on a process-wide pool with one thread per CPU (Pillow's resize, the bulk
        of the work, releases the GIL, so this scales with free cores); ``parallel=False`` runs serially.
        """
        if len(images) == 0:
            raise ImageFormatError("no images given; pass at least one image")
        for image in images:
            _check_rgb8(image)
        sizes = sorted({self.output_size(image.shape[0], image.shape[1]) for image in images})
        if len(sizes) > 1:
            raise ImageFormatError(
                f"images preprocess to different sizes {[(3, *size) for size in sizes]} (this recipe does not "
                "resize to a fixed size); resize them to one size first or pass them in separate calls"
            )
        out = np.empty((len(images), 3) + sizes[0], dtype=np.float32)

        def fill(index: int) -> None:
            self._normalize_into(self.pixels(images[index]), out[index])

        if parallel:
            parallel_map(fill, range(len(images)))
        else:
            for index in range(len(images)):
                fill(index)
        return out


def pillow_resize(image: np.ndarray, height: int, width: int, *, resample: str = "bilinear") -> np.ndarray:
    """``PIL.Image.resize((width, height), filter)`` on an (H, W, 3) uint8 RGB array, the call transformers'
    PIL processors make (``reducing_gap=None``); returns (height, width, 3) uint8 (read-only)."""
    if resample not in PIL_FILTERS:
        raise InputError(f"resample must be one of {RESAMPLE_FILTERS}, got {resample!r}")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v > 0 for v in (height, width)):
        raise InputError(f"resize target must be positive integers, got height={height!r}, width={width!r}")
    _check_rgb8(image)
    if image.shape[:2] == (height, width):
        return image  # Pillow returns an unchanged copy
    resized = Image.fromarray(np.ascontiguousarray(image)).resize((int(width), int(height)), PIL_FILTERS[resample])
    return np.asarray(resized)


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """transformers' ``center_crop`` on (H, W, C): crop around the center, zero-padding a small image."""
    in_height, in_width = image.shape[:2]
    top, left = (in_height - height) // 2, (in_width - width) // 2
    if top >= 0 and left >= 0 and top + height <= in_height and left + width <= in_width:
        return image[top : top + height, left : left + width]
    new_height, new_width = max(height, in_height), max(width, in_width)
    padded = np.zeros((new_height, new_width, *image.shape[2:]), dtype=image.dtype)
    top_pad, left_pad = -(-(new_height - in_height) // 2), -(-(new_width - in_width) // 2)
    padded[top_pad : top_pad + in_height, left_pad : left_pad + in_width] = image
    top, left = top + top_pad, left + left_pad
    return padded[max(0, top) : min(new_height, top + height), max(0, left) : min(new_width, left + width)]


def _check_rgb8(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        is_array = isinstance(image, np.ndarray)
        described = f"{image.dtype} array of shape {image.shape}" if is_array else type(image).__name__
        raise ImageFormatError(
            f"the preprocessor takes HxWx3 uint8 RGB arrays, got a {described}; "
            "load images with beit_runtime.images.load_image first"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageFormatError(f"image is empty (shape {image.shape})")
