"""The folder of the folder-run benchmark: N images cut from scikit-image's real photos, the same way on
every machine (a seeded generator): colour crops of varied sizes in nested folders, saved as JPEG or PNG,
with grayscale, RGBA and 16-bit PNGs mixed in, plus one corrupt JPEG and one text file (ignored)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "camera")
KINDS = ("jpeg", "png", "gray", "rgba", "sixteen")  # drawn in turn: a fifth of the folder each


def _photo(name: str) -> np.ndarray:
    import skimage.data

    image = getattr(skimage.data, name)()
    return image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)


def _crop(photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    height, width = photo.shape[:2]
    crop_h, crop_w = int(rng.integers(48, min(height, 320))), int(rng.integers(48, min(width, 320)))
    top, left = int(rng.integers(0, height - crop_h + 1)), int(rng.integers(0, width - crop_w + 1))
    return photo[top : top + crop_h, left : left + crop_w, :3]


def _encoded(rgb: np.ndarray, kind: str) -> tuple[str, np.ndarray]:
    """(extension, the array cv2 writes) for one kind of file."""
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    if kind == "jpeg":
        return ".jpg", bgr
    if kind == "gray":
        return ".png", cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    if kind == "rgba":
        alpha = np.full((*bgr.shape[:2], 1), 180, np.uint8)
        return ".png", np.concatenate([bgr, alpha], axis=2)
    if kind == "sixteen":
        return ".png", bgr.astype(np.uint16) * 257
    return ".png", bgr


def write_bulk_folder(root: Path, *, count: int, seed: int = 0) -> Path:
    """``count`` decodable images under ``root`` (100 per subfolder), plus broken/corrupt.jpg and notes.txt."""
    rng = np.random.default_rng(seed)
    photos = [_photo(name) for name in PHOTOS]
    for index in range(count):
        kind = KINDS[index % len(KINDS)]
        extension, array = _encoded(_crop(photos[index % len(photos)], rng), kind)
        path = root / f"part-{index // 100:03d}" / f"{kind}-{index:05d}{extension}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not cv2.imwrite(str(path), array):
            raise OSError(f"could not write {path}")
    (root / "broken").mkdir(parents=True, exist_ok=True)
    (root / "broken" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))
    (root / "notes.txt").write_text("not an image: a folder run ignores it\n", encoding="utf-8")
    return root
