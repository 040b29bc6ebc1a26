"""Segmentation pictures a person can read: the colour overlay above a legend of the classes present.

``segmentation_picture(image_rgb, labels, id2label=...)`` returns one RGB array: the overlay (or, with
``side_by_side=True``, the image and the overlay next to each other, ``GAP`` pixels apart) above a
legend strip listing every class present in the label map, largest area first (ties: lower id first).
Each entry is a swatch of the class's palette colour (exactly the colour the overlay blends in, framed
so that black or white classes still show) and the class name. The legend is drawn at a fixed size
(``FONT_SIZE`` px text, entries wrapped into rows), so it stays readable whatever the image size;
pictures narrower than ``min_width`` are first enlarged by a whole factor (nearest neighbour, so class
boundaries stay sharp), as long as no side grows past ``MAX_ENLARGED_SIDE``; one still narrower (a thin strip of
an image) gets a background margin on its right up to ``min_width``. Same inputs, same pixels: nothing depends
on time, order of calls or randomness.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import BackendUnavailableError, InputError
from .options import positive_int
from .palette import overlay, palette_for, write_rgb

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (20, 20, 20)
FRAME_COLOUR = (90, 90, 90)
FONT_SIZE = 14
SWATCH = 14  # side of a colour swatch, pixels
PAD = 6  # around the legend, between swatch and name, between rows
ENTRY_GAP = 18  # between one entry's name and the next swatch
GAP = 8  # between the image and the overlay in side-by-side pictures
DEFAULT_MIN_WIDTH = 256
# enlarging never makes a side longer than this (a 1x5000 strip is not made 256x1280000)
MAX_ENLARGED_SIDE = 4096


@dataclass(frozen=True)
class LegendEntry:
    """One class in the legend: id, name, palette colour (RGB) and share of the pixels."""

    id: int
    name: str
    colour: tuple[int, int, int]
    fraction: float


def legend_entries(
    labels: np.ndarray, id2label: Mapping[int, str], *, palette: np.ndarray | None = None
) -> list[LegendEntry]:
    """The classes present in ``labels``, largest area first; names from ``id2label`` (else ``LABEL_{id}``)."""
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.size == 0 or not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"labels must be a non-empty (H, W) integer label map, got {labels.dtype} {labels.shape}")
    ids, counts = np.unique(labels, return_counts=True)
    if ids[0] < 0:
        raise InputError("labels must be non-negative class ids (found negative values)")
    colours = palette_for(int(ids[-1]), palette)
    order = sorted(zip(counts.tolist(), ids.tolist(), strict=True), key=lambda pair: (-pair[0], pair[1]))
    return [LegendEntry(i, str(id2label.get(i, f"LABEL_{i}")), _rgb(colours[i]), count / labels.size)
            for count, i in order]


def _rgb(colour: np.ndarray) -> tuple[int, int, int]:
    red, green, blue = (int(value) for value in colour)
    return red, green, blue


@lru_cache(maxsize=4)
def _font(size: int) -> ImageFont.FreeTypeFont:
    font = ImageFont.load_default(size=size)  # Pillow's bundled font: no font files needed
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType falls back to a bitmap font
        raise BackendUnavailableError(
            "the legend needs Pillow's bundled scalable font, but this Pillow has no FreeType support; "
            "install a Pillow wheel from PyPI (`pip install --force-reinstall pillow`)"
        )
    return font


def _fit(text: str, font: ImageFont.FreeTypeFont, width: float) -> str:
    """``text``, cut with "..." so that it is at most ``width`` pixels wide."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."


def _layout(
    entries: Sequence[LegendEntry], width: int, font: ImageFont.FreeTypeFont
) -> list[tuple[int, int, LegendEntry, str]]:
    """(x, row, entry, shown text) of every entry, wrapped into rows that fit ``width``."""
    placed, x, row = [], PAD, 0
    for entry in entries:
        text = _fit(entry.name, font, width - 3 * PAD - SWATCH)
        needed = SWATCH + PAD + math.ceil(font.getlength(text))
        if x > PAD and x + needed > width - PAD:
            x, row = PAD, row + 1
        placed.append((x, row, entry, text))
        x += needed + ENTRY_GAP
    return placed


def draw_legend(entries: Sequence[LegendEntry], *, width: int) -> np.ndarray:
    """The legend strip, (height, width, 3) uint8 RGB: a framed swatch and the name of each entry."""
    font = _font(FONT_SIZE)
    ascent, descent = font.getmetrics()
    row_height = max(SWATCH, ascent + descent) + PAD
    placed = _layout(entries, width, font)
    rows = 1 + max((row for _, row, _, _ in placed), default=0)
    strip = Image.new("RGB", (width, PAD + rows * row_height), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    for x, row, entry, text in placed:
        top = PAD + row * row_height
        swatch_top = top + (row_height - PAD - SWATCH) // 2
        swatch = (x, swatch_top, x + SWATCH - 1, swatch_top + SWATCH - 1)
        draw.rectangle(swatch, fill=entry.colour, outline=FRAME_COLOUR)
        draw.text((x + SWATCH + PAD, top), text, font=font, fill=TEXT_COLOUR)
    return np.asarray(strip)


def _enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    return image if factor == 1 else np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def segmentation_picture(
    image_rgb: np.ndarray,
    labels: np.ndarray,
    *,
    id2label: Mapping[int, str],
    side_by_side: bool = False,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    min_width: int = DEFAULT_MIN_WIDTH,
) -> np.ndarray:
    """The overlay of ``labels`` on ``image_rgb`` (after the image itself with ``side_by_side``) above its legend."""
    min_width = positive_int("min_width", min_width)
    blended = overlay(image_rgb, labels, alpha=alpha, palette=palette)
    panels = [np.asarray(image_rgb), blended] if side_by_side else [blended]
    gaps = GAP * (len(panels) - 1)  # not enlarged: the panels alone must make up the rest of min_width
    width = sum(panel.shape[1] for panel in panels)
    factor = max(1, math.ceil((min_width - gaps) / width)) if width + gaps < min_width else 1
    factor = min(factor, max(1, MAX_ENLARGED_SIDE // max(panels[0].shape[0], width)))
    panels = [_enlarge(panel, factor) for panel in panels]
    height = panels[0].shape[0]
    gap = np.full((height, GAP, 3), BACKGROUND, dtype=np.uint8)
    picture = np.concatenate([part for panel in panels for part in (gap, panel)][1:], axis=1)
    if picture.shape[1] < min_width:  # too long to enlarge enough: a margin makes room for the legend
        margin = np.full((height, min_width - picture.shape[1], 3), BACKGROUND, dtype=np.uint8)
        picture = np.concatenate([picture, margin], axis=1)
    legend = draw_legend(legend_entries(labels, id2label, palette=palette), width=picture.shape[1])
    return np.concatenate([picture, legend], axis=0)


def write_segmentation_picture(
    image_rgb: np.ndarray,
    labels: np.ndarray,
    path: str | Path,
    *,
    id2label: Mapping[int, str],
    side_by_side: bool = False,
    alpha: float = 0.5,
    palette: np.ndarray | None = None,
    min_width: int = DEFAULT_MIN_WIDTH,
) -> Path:
    """Write ``segmentation_picture(...)`` of ``image_rgb`` and ``labels`` to ``path`` (PNG recommended)."""
    picture = segmentation_picture(image_rgb, labels, id2label=id2label, side_by_side=side_by_side, alpha=alpha,
                                   palette=palette, min_width=min_width)
    return write_rgb(picture, path)
