"""Colours for label maps: a deterministic palette, colourised maps, and overlays written as PNG.

The palette is the PASCAL VOC bit-interleaving colour map (class 0 black, then distinct colours for
up to 256 classes); beyond 256 classes colours repeat with a fixed shift so every id still maps to a
colour, and a class's colour depends only on its id. ``beit_runtime.legend`` draws the pictures
``beit-run --output`` writes (overlay + legend); ``write_overlay`` writes the bare overlay.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .errors import ImageError, InputError


def make_palette(num_labels: int = 256) -> np.ndarray:
    """(num_labels, 3) uint8 RGB colours; the same ids always get the same colours."""
    if num_labels < 1:
        raise InputError(f"num_labels must be >= 1, got {num_labels}")
    ids = np.arange(num_labels, dtype=np.int64)
    base = ids % 256
    colours = np.zeros((num_labels, 3), dtype=np.int64)
    for bit in range(8):
        for channel in range(3):
            colours[:, channel] |= ((base >> (3 * bit + channel)) & 1) << (7 - bit)
    shift = (ids // 256) * 97  # > 256 classes: shift the repeated colours so they stay distinguishable
    return ((colours + shift[:, None]) % 256).astype(np.uint8)


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(
            f"labels must be an (H, W) integer label map, got {labels.dtype} array of shape {labels.shape}"
        )
    if labels.size and labels.min() < 0:
        raise InputError("labels must be non-negative class ids (found negative values)")
    return labels


def palette_for(highest: int, palette: np.ndarray | None = None) -> np.ndarray:
    """The (N, 3) uint8 palette that colours ids 0..highest: ``palette`` checked, or make_palette's."""
    palette = make_palette(max(highest + 1, 256)) if palette is None else np.asarray(palette, dtype=np.uint8)
    if palette.ndim != 2 or palette.shape[1] != 3:
        raise InputError(f"palette must be an (N, 3) array of RGB colours, got shape {palette.shape}")
    if highest >= len(palette):
        raise InputError(f"label id {highest} has no colour: the palette has {len(palette)} entries")
    return palette


def colorize(labels: np.ndarray, *, palette: np.ndarray | None = None) -> np.ndarray:
    """(H, W) integer labels -> (H, W, 3) uint8 RGB image using ``palette`` (default: make_palette)."""
    labels = _check_labels(labels)
    colours: np.ndarray = palette_for(int(labels.max()) if labels.size else 0, palette)[labels]
    return colours


def overlay(
    image_rgb: np.ndarray, labels: np.ndarray, *, alpha: float = 0.5, palette: np.ndarray | None = None
) -> np.ndarray:
    """Blend the colourised ``labels`` over ``image_rgb`` (H, W, 3 uint8); alpha is the colour's weight."""
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ImageError(f"overlay needs an (H, W, 3) uint8 RGB image, got {image.dtype} array of shape {image.shape}")
    colours = colorize(labels, palette=palette)
    if colours.shape[:2] != image.shape[:2]:
        raise InputError(
            f"label map {colours.shape[:2]} and image {image.shape[:2]} differ in size; segment the image at its "
            "original size (Segmenter does) or resize the labels with nearest interpolation first"
        )
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be within [0, 1], got {alpha}")
    blended = (1.0 - alpha) * image.astype(np.float32) + alpha * colours.astype(np.float32)
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def write_overlay(
    image_rgb: np.ndarray,
    labels: np.ndarray,
    path: str | Path,
    *,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
) -> Path:
    """Write the overlay of ``labels`` on ``image_rgb`` to ``path`` (PNG recommended); returns the path."""
    return write_rgb(overlay(image_rgb, labels, alpha=alpha, palette=palette), path)


def write_rgb(image_rgb: np.ndarray, path: str | Path) -> Path:
    """Write an (H, W, 3) uint8 RGB array as an image file (the format from the extension); returns the path.
    OpenCV only encodes: the bytes are written by Python, so any file name the file system takes works
    (``cv2.imwrite`` crashes on names that are not UTF-8), and a full disk is an ``OSError`` naming its cause."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        encoded, data = cv2.imencode(path.suffix, cv2.cvtColor(np.ascontiguousarray(image_rgb), cv2.COLOR_RGB2BGR))
    except cv2.error:  # unknown extension
        encoded = False
    if not encoded:  # named by its extension: ``path`` may be the hidden temporary of an atomic write
        raise InputError(f"could not write {path.suffix or 'an extensionless'!s} image: OpenCV cannot encode "
                         "that format; use a .png or .jpg name")
    path.write_bytes(data.tobytes())
    return path
