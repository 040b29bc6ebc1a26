"""Write-then-rename files and whole-line JSON files: what a kill can leave, and how the next run cleans it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from beit_runtime.bulk.files import LineFile
from beit_runtime.bulk.results import ImageResult
from beit_runtime.bulk.writers import OutputFolder
from beit_runtime.errors import InputError
from beit_runtime.output_files import TEMP_MARK, remove_abandoned_temporaries, temporary_name, write_atomically


def test_an_atomic_write_leaves_only_the_target(tmp_path):
    target = tmp_path / "a" / "b.png.png"
    write_atomically(target, b"first")
    write_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert sorted(path.name for path in target.parent.iterdir()) == ["b.png.png"]


def _ended_pid() -> int:
    """The pid of a process that has ended (a writer killed before it renamed its temporary)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    return int(done.stdout)


def test_temporaries_of_a_killed_run_are_removed_and_a_running_writers_kept(tmp_path):
    left = temporary_name(tmp_path / "x" / "image.png.png")
    left = left.with_name(left.name.replace(f"-{os.getpid()}-", f"-{_ended_pid()}-"))
    live = temporary_name(tmp_path / "x" / "live.png")  # this process's: another command still writing there
    probe = tmp_path / f".{TEMP_MARK}probe-a1b2"  # checked_folder's write probe, left by a kill
    left.parent.mkdir()
    for path in (left, live, probe):
        path.write_bytes(b"half")
    (tmp_path / "x" / "kept.png").write_bytes(b"whole")
    assert remove_abandoned_temporaries(tmp_path) == 2
    assert sorted(path.name for path in tmp_path.rglob("*") if path.is_file()) == sorted(["kept.png", live.name])


def test_a_cut_last_line_is_removed_and_whole_lines_are_kept(tmp_path):
    lines = LineFile(tmp_path / "results.jsonl")
    lines.append([{"image": "a.png"}, {"image": "b.png"}])
    with open(lines.path, "ab") as handle:
        handle.write(b'{"image": "c.p')  # a kill in the middle of a write
    lines.repair()
    assert [record["image"] for record in lines.records()] == ["a.png", "b.png"]
    lines.append([{"image": "c.png"}])
    assert lines.path.read_text().splitlines()[-1] == '{"image": "c.png"}'


def test_resuming_drops_shards_no_line_names(tmp_path):
    settings = {"task": "backbone"}
    with OutputFolder(tmp_path, settings=settings, shard_size=2) as output:
        output.write([ImageResult(name, {"dim": 2}, embedding=np.array([i, i], np.float32))
                      for i, name in enumerate(["a", "b", "c"])])
    names = [json.loads(line)["image"] for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert names == ["a", "b", "c"]
    (tmp_path / "embeddings" / "shard-00001.npy").write_bytes(b"a shard whose lines a kill prevented")
    with OutputFolder(tmp_path, settings=settings, shard_size=2) as resumed:
        assert resumed.done == {"a", "b", "c"}
        assert sorted(path.name for path in (tmp_path / "embeddings").iterdir()) == ["shard-00000.npy"]
        resumed.write([ImageResult("d", {"dim": 2}, embedding=np.array([7, 7], np.float32))])
    last = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert last["embedding"] == {"shard": "embeddings/shard-00001.npy", "row": 0}
    np.testing.assert_array_equal(np.load(tmp_path / "embeddings" / "shard-00001.npy"), [[7, 7]])


def test_a_second_run_into_a_folder_being_written_is_refused(beit_classifier_artifact, mixed_folder, tmp_path, capsys):
    from beit_runtime.cli import main

    out, images = tmp_path / "out", str(mixed_folder / "gray")
    temporary = f".x.png.beit-partial-{_ended_pid()}-ab.png"  # its writer killed: the next run's to clean up
    with OutputFolder(out, settings={"task": "image-classification"}):  # a run writing there (the lock is the kernel's)
        (out / temporary).write_bytes(b"its temporary")
        assert main([str(beit_classifier_artifact), images, "--output", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"beit-run: error: another run is writing {out} (pid ") and "\n" not in err
        assert err.endswith("wait for it to end, or pass another --output folder")
        assert (out / temporary).exists()  # the live run's files were left alone
        with pytest.raises(InputError, match="another run is writing"):
            OutputFolder(out, settings={})
    (out / "run.json").unlink()
    assert main([str(beit_classifier_artifact), images, "--output", str(out)]) == 0  # the lock went with it
    assert sorted(path.name for path in out.iterdir()) == ["results.jsonl", "run.json"]
