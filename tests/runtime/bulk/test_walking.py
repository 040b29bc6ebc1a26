"""Which images a folder run takes and the names their outputs carry."""

from __future__ import annotations

import pytest

from beit_runtime.bulk.options import BulkOptions
from beit_runtime.bulk.walking import chunked, collect_items
from beit_runtime.errors import InputError

from .conftest import BROKEN, GOOD


def test_folders_are_walked_recursively_in_relative_name_order_without_non_images(mixed_folder):
    items = collect_items([mixed_folder])
    assert [item.relative for item in items] == sorted([*GOOD, *BROKEN])
    assert all(item.path == mixed_folder / item.relative for item in items)


def test_a_glob_picks_by_relative_path(mixed_folder):
    assert [item.relative for item in collect_items([mixed_folder], pattern="**/crops/*.png")] == [
        "animals/crops/chelsea-eye.png", "animals/crops/tiny.png"]


def test_missing_inputs_and_bad_options_say_what_to_pass(tmp_path):
    with pytest.raises(InputError, match="does not exist; pass image files or folders"):
        collect_items([tmp_path / "nowhere"])
    with pytest.raises(InputError, match="shard_size must be a positive integer"):
        BulkOptions(output=tmp_path, shard_size=0)
    with pytest.raises(InputError, match="progress must be one of"):
        BulkOptions(output=tmp_path, progress="loud")


def test_chunks_keep_order_and_the_last_is_shorter(mixed_folder):
    items = collect_items([mixed_folder])
    assert [len(chunk) for chunk in chunked(items, 4)] == [4, 4, 3]
