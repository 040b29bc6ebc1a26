"""Sample photos (scikit-image's bundled data) written to disk, for end-to-end timings from files."""

from __future__ import annotations

from pathlib import Path

# Varied sizes and aspect ratios, all shipped inside scikit-image (no download).
PHOTOS = (
    ("astronaut", "jpg"),
    ("chelsea", "png"),
    ("coffee", "jpg"),
    ("rocket", "png"),
    ("hubble_deep_field", "jpg"),
    ("immunohistochemistry", "png"),
)


def write_photos(folder: Path) -> list[Path]:
    """Write the sample photos into ``folder`` (JPEG quality 95 and PNG) and return their paths."""
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, extension in PHOTOS:
        path = folder / f"{name}.{extension}"
        if not path.is_file():
            image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
            image.save(path, quality=95) if extension == "jpg" else image.save(path)
        paths.append(path)
    return paths


def batch_of(paths: list[Path], size: int) -> list[Path]:
    """``size`` paths, cycling through the photos."""
    return [paths[i % len(paths)] for i in range(size)]
