"""Output paths checked before work starts, and writes that leave the whole file or nothing."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from beit_runtime.errors import InputError, OutputWriteError
from beit_runtime.output_files import (
    checked_file,
    checked_folder,
    is_temporary,
    remove_left_temporaries,
    temporary_name,
    write_atomically,
    write_error,
    write_with,
)


def test_a_folder_is_created_and_a_file_in_its_place_is_refused_naming_the_option(tmp_path):
    assert checked_folder(tmp_path / "a" / "b", option="--output").is_dir()
    (tmp_path / "taken").write_text("x")
    with pytest.raises(InputError, match=r"--output .*taken is a file, not a folder"):
        checked_folder(tmp_path / "taken", option="--output")
    with pytest.raises(InputError, match=r"--output .*cannot be created"):
        checked_folder(tmp_path / "taken" / "sub", option="--output")


def test_an_uncreatable_folder_names_the_cause():
    with pytest.raises(InputError, match=r"--report /proc/beit-out cannot be created \(.+\)"):
        checked_folder(Path("/proc/beit-out"), option="--report")


def test_a_file_path_that_is_a_folder_or_under_a_file_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"--plan .* is a folder: name a file"):
        checked_file(tmp_path, option="--plan")
    (tmp_path / "blocker").write_text("x")
    with pytest.raises(InputError, match=r"--plan's folder .*blocker is a file"):
        checked_file(tmp_path / "blocker" / "plan.json", option="--plan")
    assert checked_file(tmp_path / "new" / "plan.json", option="--plan").parent.is_dir()


def test_atomic_writes_replace_whole_files_with_plain_permissions(tmp_path):
    target = tmp_path / "out" / "report.md"
    write_atomically(target, "first")
    write_atomically(target, "second")
    assert target.read_text() == "second"
    expected = 0o666 & ~_umask()
    assert stat.S_IMODE(target.stat().st_mode) == expected
    assert [path.name for path in target.parent.iterdir()] == ["report.md"]


def test_a_writer_that_picks_its_format_by_suffix_gets_the_target_suffix(tmp_path):
    target = tmp_path / "vector.npy"
    write_with(target, lambda path: np.save(path, np.arange(3)))  # np.save appends .npy unless it is there
    np.testing.assert_array_equal(np.load(target), np.arange(3))
    assert [path.name for path in tmp_path.iterdir()] == ["vector.npy"]


def test_a_failed_write_leaves_neither_target_nor_temporary(tmp_path):
    target = tmp_path / "picture.png"

    def fail(path):
        path.write_bytes(b"half")
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError):
        write_with(target, fail)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OSError, match="nothing was written"):
        write_with(target, lambda path: None)
    assert not any(is_temporary(path.name) for path in tmp_path.iterdir())


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_a_folder_the_file_system_refuses_is_caught_even_for_root():
    with pytest.raises(InputError, match=r"--plan's folder /proc is not writable \(.+\)"):
        checked_file(Path("/proc/plan.json"), option="--plan")


def test_temporaries_a_killed_writer_left_are_removed_and_a_running_writers_kept(tmp_path):
    target = tmp_path / "state.json"
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True)
    dead_pid = int(finished.stdout)
    left = temporary_name(target)
    left = left.with_name(left.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    live = temporary_name(target)  # this process's: still writing
    other = temporary_name(tmp_path / "other.json")
    for path in (left, live, other):
        path.write_text("partial")
    assert remove_left_temporaries(target) == 1
    assert not left.exists() and live.exists() and other.exists()


def test_a_folder_in_the_way_is_a_typed_error_naming_the_target_not_the_temporary(tmp_path):
    target = tmp_path / "overlay.png"
    target.mkdir()
    with pytest.raises(OutputWriteError) as caught:
        write_atomically(target, b"png")
    assert str(caught.value) == (f"could not write {target} (Is a directory): a folder has its name: move that "
                                 "folder away, or choose another output folder")
    assert isinstance(caught.value, OSError) and not any(is_temporary(path.name) for path in tmp_path.iterdir())
    assert (caught.value.errno, caught.value.filename) == (errno.EISDIR, str(target))  # for callers that sort by it


def _small_disk() -> None:
    """Files may grow to 2 KB in the child: a full disk without root or a mount (writes fail with EFBIG)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))


def _beit_run_on_a_small_disk(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "beit_runtime.cli", *arguments], check=False, capture_output=True,
                          text=True, timeout=300, preexec_fn=_small_disk)


def _noisy_pictures(folder: Path, count: int) -> Path:
    """PNGs of noise (they do not compress): each overlay is larger than the small disk allows."""
    from PIL import Image

    rng = np.random.default_rng(5)
    for index in range(count):
        path = folder / "class_1" / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    return folder


def test_a_full_disk_is_one_error_line_naming_the_file_in_every_command(beit_segmentation_artifact,
                                                                        beit_classifier_artifact, tmp_path):
    images = _noisy_pictures(tmp_path / "images", 2)
    single = _beit_run_on_a_small_disk(str(beit_segmentation_artifact), str(images / "class_1/0.png"),
                                       "--output", str(tmp_path / "single"))
    assert single.returncode == 1 and "Traceback" not in single.stderr
    assert f"beit-run: error: could not write {tmp_path / 'single' / '0.png'} (File too large)" in single.stderr
    folder = _beit_run_on_a_small_disk(str(beit_segmentation_artifact), str(images), "--output",
                                       str(tmp_path / "folder"), "--overlays")
    assert folder.returncode == 1 and "Traceback" not in folder.stderr
    assert "(File too large): larger than the file system or the file size limit (ulimit -f) allows" in folder.stderr
    assert f"{tmp_path / 'folder'} keeps every image done before: rerun the same command to go on" in folder.stderr
    evaluated = _beit_run_on_a_small_disk("evaluate", str(beit_classifier_artifact), "--data", str(images),
                                          "--output", str(tmp_path / "report"), "--precision", "fp32")
    assert evaluated.returncode == 1 and "Traceback" not in evaluated.stderr
    assert "beit-run evaluate: error: could not write" in evaluated.stderr
    assert "rerun the same command to go on from" in evaluated.stderr
    leftovers = [path for path in tmp_path.rglob("*") if is_temporary(path.name)]
    assert leftovers == []


@pytest.mark.parametrize(("code", "fix"), [
    (errno.ENOSPC, "free space there or choose another output folder"),
    (errno.EDQUOT, "free space there or choose another output folder"),
    (errno.EACCES, "make it writable, or choose another output folder"),
    (errno.ENOENT, "its folder was removed while writing: keep it in place, or choose another output folder"),
    (errno.EIO, "fix that, or choose another output folder"),
])
def test_a_write_error_says_free_space_only_when_space_ran_out(tmp_path, code, fix):
    typed = write_error(tmp_path / "a.png", OSError(code, os.strerror(code)))
    assert str(typed) == f"could not write {tmp_path / 'a.png'} ({os.strerror(code)}): {fix}"


def test_a_name_too_long_is_a_typed_error_not_one_hidden_by_the_clean_up(tmp_path):
    target = tmp_path / ("n" * 252 + ".png")  # 256 bytes: one more than a file name may have
    with pytest.raises(OutputWriteError, match=r"\(File name too long\): the name is longer than the file system "
                                               "allows: shorten it") as caught:
        write_atomically(target, b"png")
    assert caught.value.errno == errno.ENAMETOOLONG and list(tmp_path.iterdir()) == []


def test_temporaries_of_long_names_stay_short_and_are_still_found(tmp_path):
    target = tmp_path / ("\u00e9" * 115 + ".png.png")  # 238 bytes, a legal name: its temporary must be one too
    temporary = temporary_name(target)
    assert is_temporary(temporary.name) and temporary.suffix == ".png" and len(os.fsencode(temporary.name)) < 120
    write_atomically(target, b"whole")
    assert [path.name for path in tmp_path.iterdir()] == [target.name]
    dead_pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                                  text=True, check=True).stdout)
    left = temporary.with_name(temporary.name.replace(f"-{os.getpid()}-", f"-{dead_pid}-"))
    left.write_bytes(b"half")
    assert remove_left_temporaries(target) == 1 and not left.exists()
