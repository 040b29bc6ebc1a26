"""A small mixed folder for folder runs: real photos from scikit-image in nested folders, crops, gray, RGBA,
16-bit gray and colour PNGs, a corrupt JPEG, a text file with an image extension (both fail) and a plain
text file (not an image: ignored)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

# relative names that decode, and those that are listed but cannot be decoded (notes.txt is not listed)
GOOD = (
    "animals/chelsea.jpg", "animals/crops/chelsea-eye.png", "animals/crops/tiny.png", "astronaut.png",
    "gray/camera.png", "gray/camera16.png", "logo-rgba.png", "rocket.jpg", "space/astronaut16.png",
)
BROKEN = ("broken/truncated.jpg", "broken/words.png")


def _write(root: Path, name: str, rgb_or_gray: np.ndarray) -> None:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    array = rgb_or_gray[:, :, [2, 1, 0, *range(3, rgb_or_gray.shape[2])]] if rgb_or_gray.ndim == 3 else rgb_or_gray
    assert cv2.imwrite(str(path), array)


def make_mixed_folder(root: Path) -> Path:
    chelsea, astronaut = skimage.data.chelsea(), skimage.data.astronaut()
    _write(root, "animals/chelsea.jpg", chelsea)
    _write(root, "animals/crops/chelsea-eye.png", chelsea[100:180, 120:260])
    _write(root, "animals/crops/tiny.png", chelsea[:3, :5])
    _write(root, "astronaut.png", astronaut[::2, ::2])
    _write(root, "gray/camera.png", skimage.data.camera()[::2, ::2])
    _write(root, "gray/camera16.png", skimage.data.camera()[::2, ::2].astype(np.uint16) * 257)
    logo = skimage.data.logo()  # RGBA
    _write(root, "logo-rgba.png", logo[:, :, [0, 1, 2, 3]])
    _write(root, "rocket.jpg", skimage.data.rocket())
    _write(root, "space/astronaut16.png", astronaut[::4, ::4].astype(np.uint16) * 257)
    jpeg = (root / "animals/chelsea.jpg").read_bytes()
    (root / "broken").mkdir()
    (root / "broken/truncated.jpg").write_bytes(jpeg[:300])
    (root / "broken/words.png").write_text("not a picture\n", encoding="utf-8")
    (root / "notes.txt").write_text("a text file, not an image\n", encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def mixed_folder(tmp_path_factory) -> Path:
    """Read-only: copy it (or write outputs elsewhere) before changing it."""
    return make_mixed_folder(tmp_path_factory.mktemp("mixed") / "photos")
