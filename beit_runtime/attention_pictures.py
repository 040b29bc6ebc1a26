"""Pictures of attention maps: each head's map, and their mean, over the photo with a colour scale.

``attention_picture(image, attention_map, title=...)`` draws one (H, W) map as the photo under a
viridis colour wash (OpenCV's colormap table: dark violet = little attention, yellow = most), a title
line, and a colour bar beside it whose ticks give the attention weights the colours stand for (0, half
the map's largest value, its largest value), so a reader can read values off the picture.
``write_attention_pictures(image, maps, folder, stem=..., layer=...)`` writes ``STEM.head0.png`` ...
``STEM.headN.png`` and ``STEM.mean.png`` (the mean over heads); ``write_image_attention_pictures`` does it
for image files with a task class (``beit-run ... --attention-maps DIR``). Pillow and OpenCV only (no matplotlib).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .errors import InputError
from .images import load_image
from .legend import _font
from .output_files import write_with
from .palette import write_rgb

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (20, 20, 20)
FONT_SIZE = 14
BAR_WIDTH = 16
PAD = 6
TICKS = (1.0, 0.5, 0.0)  # fractions of the largest value, top to bottom
PHOTO_WEIGHT = 0.35  # the photo's share of each pixel under the colour wash
MIN_HEIGHT = 160  # small images are enlarged (nearest) so the text and the bar stay readable
PICTURE_SUFFIXES = (".head*.png", ".mean.png")  # what STEM gets ("*": the head number), as written below


def colour_wash(image: np.ndarray, attention_map: np.ndarray, *, top: float) -> np.ndarray:
    """(H, W, 3) uint8: the map in viridis (0 -> dark, ``top`` -> bright) blended over the grey photo."""
    levels = np.clip(attention_map / top if top > 0 else np.zeros_like(attention_map), 0.0, 1.0)
    colours = cv2.applyColorMap((levels * 255).round().astype(np.uint8), cv2.COLORMAP_VIRIDIS)[:, :, ::-1]
    grey = np.repeat(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)[:, :, None], 3, axis=2)
    washed: np.ndarray = (PHOTO_WEIGHT * grey + (1 - PHOTO_WEIGHT) * colours).round().astype(np.uint8)
    return washed


def colour_bar(height: int, *, top: float) -> np.ndarray:
    """(height, width, 3) uint8: the viridis scale from ``top`` (top) to 0 (bottom) with labelled ticks."""
    font = _font(FONT_SIZE)
    labels = [f"{fraction * top:.3g}" for fraction in TICKS]
    width = BAR_WIDTH + 2 * PAD + max(int(font.getlength(text)) for text in labels) + PAD
    ramp = np.linspace(255, 0, height).round().astype(np.uint8)[:, None]
    bar = cv2.applyColorMap(np.repeat(ramp, BAR_WIDTH, axis=1), cv2.COLORMAP_VIRIDIS)[:, :, ::-1]
    canvas = Image.new("RGB", (width, height), BACKGROUND)
    canvas.paste(Image.fromarray(np.ascontiguousarray(bar)), (PAD, 0))
    draw = ImageDraw.Draw(canvas)
    ascent, descent = font.getmetrics()
    for fraction, text in zip(TICKS, labels, strict=True):
        y = round((1 - fraction) * (height - 1))
        draw.line((PAD + BAR_WIDTH, y, PAD + BAR_WIDTH + PAD // 2, y), fill=TEXT_COLOUR)
        text_top = min(max(y - (ascent + descent) // 2, 0), height - ascent - descent)
        draw.text((2 * PAD + BAR_WIDTH, text_top), text, font=font, fill=TEXT_COLOUR)
    return np.asarray(canvas)


def attention_picture(image: np.ndarray, attention_map: np.ndarray, *, title: str) -> np.ndarray:
    """(h, w, 3) uint8 RGB: a title, then the washed photo with its colour bar on the right."""
    if attention_map.shape != image.shape[:2]:
        raise InputError(f"the attention map is {attention_map.shape}, the image {image.shape[:2]}; "
                         "pass the map attention_maps made for this image")
    factor = max(1, -(-MIN_HEIGHT // image.shape[0]))
    top = float(np.max(attention_map))
    washed = colour_wash(image, attention_map, top=top)
    if factor > 1:
        washed = np.repeat(np.repeat(washed, factor, axis=0), factor, axis=1)
    bar = colour_bar(washed.shape[0], top=top)
    font = _font(FONT_SIZE)
    ascent, descent = font.getmetrics()
    title_height = ascent + descent + 2 * PAD
    width = washed.shape[1] + PAD + bar.shape[1]
    canvas = Image.new("RGB", (width, title_height + washed.shape[0]), BACKGROUND)
    ImageDraw.Draw(canvas).text((PAD, PAD), title, font=font, fill=TEXT_COLOUR)
    canvas.paste(Image.fromarray(washed), (0, title_height))
    canvas.paste(Image.fromarray(bar), (washed.shape[1] + PAD, title_height))
    return np.asarray(canvas)


def write_attention_pictures(image: np.ndarray, maps: np.ndarray, folder: str | Path, *, stem: str,
                             layer: int) -> list[Path]:
    """``STEM.head{i}.png`` per head and ``STEM.mean.png``; returns the paths written (heads first)."""
    folder = Path(folder)
    written = []
    for head, attention_map in enumerate(maps):
        picture = attention_picture(image, attention_map, title=f"layer {layer}, head {head}: CLS attention")
        written.append(_write_picture(picture, folder / f"{stem}.head{head}.png"))
    mean = attention_picture(image, maps.mean(axis=0), title=f"layer {layer}, mean of {len(maps)} heads")
    written.append(_write_picture(mean, folder / f"{stem}.mean.png"))
    return written


def _write_picture(picture: np.ndarray, target: Path) -> Path:
    """``picture`` at ``target``, written then renamed (a kill leaves no half picture)."""
    return write_with(target, lambda temporary: write_rgb(picture, temporary))


def check_attention_source(model_class: type) -> None:
    """InputError when ``model_class`` (a task class) cannot give attention maps (before any image is run)."""
    if not callable(getattr(model_class, "attention_maps", None)):
        raise InputError(f"{model_class.__name__} has no attention maps; --attention-maps needs a backbone or "
                         "image-classification artifact exported with --outputs attentions")


def write_image_attention_pictures(model: Any, images: Sequence[str | Path], folder: str | Path, *,
                                   layer: int = -1) -> dict[str, list[Path]]:
    """For each image file: its attention pictures from ``model.attention_maps`` (a ``LayerOutputs`` task class)."""
    check_attention_source(type(model))
    shown_layer = layer % model.num_layers if model.num_layers else layer
    written = {}
    for path in images:
        image = load_image(str(path))
        maps = model.attention_maps(image, layer=layer)
        written[str(path)] = write_attention_pictures(image, maps, folder, stem=Path(path).stem, layer=shown_layer)
    return written
