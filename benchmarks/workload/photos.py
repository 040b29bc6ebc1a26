"""Sample photos (scikit-image's bundled data) written to disk, for end-to-end timings from files."""

from __future__ import annotations

from pathlib import Path

ENCODINGS = ("jpg", "png")  # the photos alternate between them (JPEG quality 95, PNG)


def photo_files() -> tuple[tuple[str, str], ...]:
    """(name, extension) of the sample photos: the exporter's parity photos (``beit_export.parity.photos``:
    varied sizes and aspect ratios, all shipped inside scikit-image, no download), alternately JPEG and PNG."""
    # imported here: beit_export.parity loads torch, which the benchmark workers that only use ``batch_of`` must
    # not pay for (their memory and start-up are measured)
    from beit_export.parity.photos import PHOTO_NAMES

    return tuple((name, ENCODINGS[index % len(ENCODINGS)]) for index, name in enumerate(PHOTO_NAMES))


def write_photos(folder: Path) -> list[Path]:
    """Write the sample photos into ``folder`` (JPEG quality 95 and PNG) and return their paths."""
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, extension in photo_files():
        path = folder / f"{name}.{extension}"
        if not path.is_file():
            image = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
            image.save(path, quality=95) if extension == "jpg" else image.save(path)
        paths.append(path)
    return paths


def batch_of(paths: list[Path], size: int) -> list[Path]:
    """``size`` paths, cycling through the photos."""
    return [paths[i % len(paths)] for i in range(size)]
