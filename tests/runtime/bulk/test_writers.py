"""The output folder's writers without a model: an output that needs a folder where a file is fails alone, and
embeddings waiting for a shard are written once they have waited ``shard_seconds``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from beit_runtime.bulk.results import ImageResult
from beit_runtime.bulk.walking import ImageItem
from beit_runtime.bulk.writers import OutputFolder


def _lines(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def test_an_output_whose_folder_is_another_images_file_fails_alone(tmp_path):
    """k.png's label map is OUT/k.png.png; the folder k.png.png/ then cannot hold z.jpg's: that image fails, with
    a reason naming the file in the way, and the rest goes on (it ended the run, on every rerun)."""
    results = [ImageResult("k.png", {"label_map": "k.png.png"}, files=(("k.png.png", b"k"),)),
               ImageResult("k.png.png/z.jpg", {}, files=(("k.png.png/z.jpg.png", b"z"),)),
               ImageResult("k.png.png/deeper/y.jpg", {}, files=(("k.png.png/deeper/y.jpg.png", b"y"),)),
               ImageResult("l.jpg", {}, files=(("l.jpg.png", b"l"),))]
    for _ in range(2):  # a rerun retries them, and they fail the same way
        with OutputFolder(tmp_path, settings={"task": "semantic-segmentation"}) as output:
            items = [ImageItem(Path(result.relative), result.relative) for result in results]
            todo = {item.relative for item in output.pending(items)}
            assert output.write([result for result in results if result.relative in todo]) == 2
    assert [record["image"] for record in _lines(tmp_path / "results.jsonl")] == ["k.png", "l.jpg"]
    errors = _lines(tmp_path / "errors.jsonl")
    assert [(error["image"], error["error"]) for error in errors] == [
        ("k.png.png/z.jpg", "OutputWriteError"), ("k.png.png/deeper/y.jpg", "OutputWriteError")]
    assert errors[0]["reason"] == (f"its output k.png.png/z.jpg.png needs a folder k.png.png in {tmp_path}, where a "
                                   "file has that name (another image's output, or a file put there): rename the "
                                   "image or its folder and rerun")
    assert "needs a folder k.png.png in" in errors[1]["reason"]


def _embedding(name, value):
    return ImageResult(name, {"dim": 2}, embedding=np.array([value, value], np.float32))


def test_embeddings_that_waited_shard_seconds_are_written_as_a_shorter_shard(tmp_path):
    """A kill -9 loses only the embeddings not yet in a shard: those of the last ``shard_seconds`` (0: none, a shard
    per batch), not up to ``shard_size`` - 1 of them."""
    with OutputFolder(tmp_path / "each", settings={"task": "backbone"}, shard_size=100, shard_seconds=0) as output:
        output.write([_embedding("a", 1), _embedding("b", 2)])
        assert [record["image"] for record in _lines(tmp_path / "each" / "results.jsonl")] == ["a", "b"]
        output.write([_embedding("c", 3)])
        assert sorted(path.name for path in (tmp_path / "each" / "embeddings").iterdir()) == [
            "shard-00000.npy", "shard-00001.npy"]
    with OutputFolder(tmp_path / "waits", settings={"task": "backbone"}, shard_size=100) as output:  # 60 s
        output.write([_embedding("a", 1)])
        assert not (tmp_path / "waits" / "results.jsonl").exists()
    assert [record["image"] for record in _lines(tmp_path / "waits" / "results.jsonl")] == ["a"]  # at the end
