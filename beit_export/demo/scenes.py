"""Procedural scenes with known masks: the demo segmentation model's training and test data.

A scene is a grainy, softly shaded background with 2-5 overlapping objects drawn one after another (later
objects occlude earlier ones, in the image and in the mask alike). An object's class is two
independent properties, so a model needs both texture and shape to get it right:

- texture: ``plain`` (one flat colour) or ``striped`` (two-colour stripes, random period/angle);
- shape: ``round`` (an ellipse or a smooth irregular blob) or ``polygon`` (a rectangle or a
  triangle, with straight edges and corners); all randomly sized, stretched and rotated.

The background is grainy, so it differs from every object by texture too.

Every colour in a scene differs from every other one (and from the background's base colour) by
at least ``MIN_COLOUR_STEP`` in some channel, and the background's shading stays within
``BACKGROUND_SHADING``, so without noise every mask boundary is an image edge. Objects may run
off the border. Everything is drawn from the ``numpy.random.Generator`` given, so a seed fixes
the scene.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

CLASS_NAMES: tuple[str, ...] = ("background", "plain_round", "plain_polygon", "striped_round", "striped_polygon")
OBJECT_LABELS: tuple[int, ...] = (1, 2, 3, 4)
MIN_COLOUR_STEP = 48
BACKGROUND_SHADING = 20.0
DEFAULT_NOISE = 4.0

Region = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class SceneObject:
    """One drawn object: its class, the pixels it covers, and the colour of each covered pixel."""

    label: int
    covers: Region
    colours: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _rotated(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    cos, sin = np.cos(angle), np.sin(angle)
    dx, dy = xx - cx, yy - cy
    return dx * cos + dy * sin, -dx * sin + dy * cos


def _pick_colour(rng: np.random.Generator, used: list[np.ndarray]) -> np.ndarray:
    """A colour at least MIN_COLOUR_STEP away (Chebyshev) from all ``used``; the farthest of 64 tries otherwise."""
    best, best_distance = None, -1.0
    for _ in range(64):
        colour = rng.integers(0, 256, size=3).astype(np.float64)
        distance = min((np.abs(colour - other).max() for other in used), default=255.0)
        if distance >= MIN_COLOUR_STEP:
            best = colour
            break
        if distance > best_distance:
            best, best_distance = colour, distance
    used.append(best)
    return best


def _flat(colour: np.ndarray) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    return lambda yy, xx: np.broadcast_to(colour, (*yy.shape, 3))


def _ellipse(rng: np.random.Generator, cy: float, cx: float, radius: float) -> Region:
    a, b = radius, radius * rng.uniform(0.45, 1.0)
    angle = rng.uniform(0, np.pi)

    def covers(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        u, v = _rotated(yy, xx, cy, cx, angle)
        return (u / a) ** 2 + (v / b) ** 2 <= 1.0

    return covers


def _rectangle(rng: np.random.Generator, cy: float, cx: float, radius: float) -> Region:
    a, b = radius * 0.85, radius * 0.85 * rng.uniform(0.4, 1.0)
    angle = rng.uniform(0, np.pi / 2) if rng.random() < 0.6 else 0.0

    def covers(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        u, v = _rotated(yy, xx, cy, cx, angle)
        return (np.abs(u) <= a) & (np.abs(v) <= b)

    return covers


def _triangle(rng: np.random.Generator, cy: float, cx: float, radius: float) -> Region:
    angles = rng.uniform(0, 2 * np.pi) + np.array([0.0, 2 * np.pi / 3, 4 * np.pi / 3])
    angles = angles + rng.uniform(-0.45, 0.45, size=3)
    lengths = radius * rng.uniform(0.8, 1.15, size=3)
    ys, xs = cy + lengths * np.sin(angles), cx + lengths * np.cos(angles)

    def covers(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        sides = [
            (xs[(i + 1) % 3] - xs[i]) * (yy - ys[i]) - (ys[(i + 1) % 3] - ys[i]) * (xx - xs[i]) for i in range(3)
        ]
        return ((sides[0] >= 0) & (sides[1] >= 0) & (sides[2] >= 0)) | (
            (sides[0] <= 0) & (sides[1] <= 0) & (sides[2] <= 0)
        )

    return covers


def _blob(rng: np.random.Generator, cy: float, cx: float, radius: float) -> Region:
    amplitudes = rng.uniform(0.0, 0.16, size=3)
    phases = rng.uniform(0, 2 * np.pi, size=3)
    stretch = rng.uniform(0.6, 1.0)

    def covers(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        u, v = _rotated(yy, xx, cy, cx, phases[0])
        v = v / stretch
        theta = np.arctan2(v, u)
        waves = enumerate(zip(amplitudes, phases, strict=True))
        edge = radius * (1.0 + sum(a * np.cos((k + 2) * theta + p) for k, (a, p) in waves))
        return np.hypot(u, v) <= edge

    return covers


def _stripes(rng: np.random.Generator, scale: float, used: list[np.ndarray]) -> Callable:
    first, second = _pick_colour(rng, used), _pick_colour(rng, used)
    period = scale * rng.uniform(0.035, 0.07)
    angle, offset = rng.uniform(0, np.pi), rng.uniform(0, period)

    def colours(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        phase = ((xx * np.cos(angle) + yy * np.sin(angle) + offset) / period) % 1.0
        return np.where((phase < 0.5)[..., None], first, second)

    return colours


ROUND_SHAPES = (_ellipse, _blob)
POLYGON_SHAPES = (_rectangle, _triangle)
# label -> (shapes it is drawn with, striped?)
_CLASSES = {1: (ROUND_SHAPES, False), 2: (POLYGON_SHAPES, False), 3: (ROUND_SHAPES, True), 4: (POLYGON_SHAPES, True)}


def _sample_object(rng: np.random.Generator, height: int, width: int, used: list[np.ndarray]) -> SceneObject:
    label = int(rng.choice(OBJECT_LABELS))
    shapes, striped = _CLASSES[label]
    scale = float(min(height, width))
    radius = scale * rng.uniform(0.12, 0.3)
    cy, cx = rng.uniform(0, height), rng.uniform(0, width)
    covers = shapes[int(rng.integers(len(shapes)))](rng, cy, cx, radius)
    colours = _stripes(rng, scale, used) if striped else _flat(_pick_colour(rng, used))
    return SceneObject(label=label, covers=covers, colours=colours)


def _background(rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray, used: list[np.ndarray]) -> np.ndarray:
    """Base colour + smooth shading + grain (blocks ~1.5% of the short side), within +-BACKGROUND_SHADING.

    The grain is the background's texture: objects are flat or striped, the background never is.
    """
    base = _pick_colour(rng, used)
    height, width = yy.shape
    gy, gx = rng.uniform(-1, 1, size=(2, 3))
    ramp = gy * (yy / height - 0.5)[..., None] + gx * (xx / width - 0.5)[..., None]
    cell = max(1.0, 0.015 * min(height, width))
    grain = rng.uniform(-1, 1, size=(int(height / cell) + 1, int(width / cell) + 1, 1))
    grain = grain[(yy / cell).astype(int), (xx / cell).astype(int)]
    return base + 0.4 * BACKGROUND_SHADING * ramp + 0.6 * BACKGROUND_SHADING * grain


def generate_scene(
    rng: np.random.Generator, *, height: int, width: int, noise: float = DEFAULT_NOISE, max_objects: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """One scene: (image HxWx3 uint8 RGB, mask HxW int64 of indices into CLASS_NAMES).

    ``noise`` is the standard deviation of the Gaussian pixel noise added last (0 for none).
    """
    if height < 8 or width < 8 or max_objects < 2:
        raise ValueError(f"expected height, width >= 8 and max_objects >= 2; got {height}x{width}, {max_objects}")
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    used: list[np.ndarray] = []
    image = _background(rng, yy, xx, used)
    mask = np.zeros((height, width), dtype=np.int64)
    for _ in range(int(rng.integers(2, max_objects + 1))):
        scene_object = _sample_object(rng, height, width, used)
        inside = scene_object.covers(yy, xx)
        image[inside] = scene_object.colours(yy, xx)[inside]
        mask[inside] = scene_object.label
    if noise > 0:
        image = image + rng.normal(0.0, noise, size=image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8), mask


def _scene_size(rng: np.random.Generator, size: int | tuple[int, int] | None, min_size: int, max_size: int):
    if size is None:
        height, width = rng.integers(min_size, max_size + 1, size=2)
        return int(height), int(width)
    if isinstance(size, int):
        return size, size
    return int(size[0]), int(size[1])


def generate_scenes(
    n: int,
    *,
    seed: int = 0,
    size: int | tuple[int, int] | None = None,
    min_size: int = 96,
    max_size: int = 256,
    noise: float = DEFAULT_NOISE,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``n`` scenes as (image, mask) pairs; scene ``i`` depends only on (seed, i).

    ``size`` fixes every scene's size (an int for squares or (height, width)); left None, height
    and width are drawn independently from [min_size, max_size].
    """
    if min_size > max_size:
        raise ValueError(f"expected min_size <= max_size, got {min_size} > {max_size}")
    scenes = []
    for index in range(n):
        rng = np.random.default_rng([seed, index])
        height, width = _scene_size(rng, size, min_size, max_size)
        scenes.append(generate_scene(rng, height=height, width=width, noise=noise))
    return scenes


def main(argv: list[str] | None = None) -> int:
    """``python -m beit_export.demo.scenes OUT.png [--seed N] [--size HxW]``: write one scene (and its mask)."""
    import argparse

    import cv2

    parser = argparse.ArgumentParser(description="Write a procedural demo scene as PNG (+ OUT.mask.png).")
    parser.add_argument("output", help="PNG path for the scene")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--size", default="240x320", help="HEIGHTxWIDTH (default 240x320)")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.lower().split("x"))
    image, mask = generate_scene(np.random.default_rng(args.seed), height=height, width=width)
    cv2.imwrite(args.output, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(args.output.rsplit(".", 1)[0] + ".mask.png", mask.astype(np.uint8))
    print(f"wrote {args.output} ({height}x{width}) and its mask")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
