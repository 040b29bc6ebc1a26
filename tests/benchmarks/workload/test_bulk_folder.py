"""The folder-run benchmark's folder: the same images on every run, every kind present, broken and text files."""

from __future__ import annotations

import cv2
import numpy as np

from beit_runtime.bulk.walking import collect_items
from benchmarks.workload.bulk_folder import write_bulk_folder


def test_the_folder_mixes_kinds_and_is_reproducible(tmp_path):
    first = write_bulk_folder(tmp_path / "a", count=10)
    second = write_bulk_folder(tmp_path / "b", count=10)
    items = collect_items([first])
    assert len(items) == 11 and items[0].relative == "broken/corrupt.jpg"  # notes.txt is not an image
    kinds = {}
    for item in items[1:]:
        array = cv2.imread(str(item.path), cv2.IMREAD_UNCHANGED)
        kinds[item.path.name.split("-")[0]] = (array.dtype, array.ndim, array.shape[2] if array.ndim == 3 else 1)
        np.testing.assert_array_equal(array, cv2.imread(str(second / item.relative), cv2.IMREAD_UNCHANGED))
    assert kinds == {"jpeg": (np.uint8, 3, 3), "png": (np.uint8, 3, 3), "gray": (np.uint8, 2, 1),
                     "rgba": (np.uint8, 3, 4), "sixteen": (np.uint16, 3, 3)}
