"""Staging folders of killed exports are removed by the next export to the same output; live ones are kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from beit_export.artifact import remove_stale_staging, staged_artifact
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model

REPO = Path(__file__).resolve().parents[3]
ENV = dict(os.environ, PYTHONPATH=str(REPO))


def _hidden(parent: Path) -> list[str]:
    return sorted(path.name for path in parent.iterdir() if path.name.startswith("."))


def _holder(output: Path) -> subprocess.Popen:
    """A live process inside staged_artifact(output), waiting on stdin."""
    code = textwrap.dedent(f"""
        import sys
        from beit_export.artifact import staged_artifact
        with staged_artifact({str(output)!r}) as staging:
            (staging / "model.onnx").write_text("half")
            print("ready", flush=True)
            sys.stdin.read()
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env=ENV)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_sigkilled_cli_export_is_cleaned_up_by_the_next_export(tmp_path):
    folder = save_model_folder(tiny_model("vit", "backbone"), tmp_path / "model")
    output = tmp_path / "art"
    process = subprocess.Popen([sys.executable, "-m", "beit_export", "--model", str(folder), "--output", str(output)],
                               stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=ENV)
    for line in process.stderr:
        if "parity check" in line:  # the graph is written: mid-export
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=120)
    left = _hidden(tmp_path)
    assert any(name.startswith(".art.partial-") and not name.endswith(".lock") for name in left), left
    lines: list[str] = []
    with staged_artifact(output, progress=lines.append) as staging:
        (staging / "a.txt").write_text("a")
    assert _hidden(tmp_path) == []
    assert len(lines) == 1 and "stale staging folder" in lines[0] and ".art.partial-" in lines[0]
    assert (output / "a.txt").read_text() == "a" and sorted(p.name for p in output.iterdir()) == ["a.txt"]


def test_a_live_exporters_staging_folder_is_kept(tmp_path):
    output = tmp_path / "art"
    holder = _holder(output)
    try:
        before = _hidden(tmp_path)
        assert remove_stale_staging(output) == []
        assert _hidden(tmp_path) == before and len(before) == 2  # the folder and its lock file
    finally:
        holder.kill()
        holder.wait(timeout=30)
    removed = remove_stale_staging(output)
    assert len(removed) == 1 and _hidden(tmp_path) == []


def test_folders_without_lock_and_retired_folders_are_stale(tmp_path):
    output = tmp_path / "art"
    (tmp_path / ".art.partial-old1").mkdir()  # written by an exporter version without lock files
    (tmp_path / ".art.old-abc").mkdir()  # an overwrite killed between its two renames
    (tmp_path / ".other.partial-x").mkdir()  # another output's: not ours to touch
    assert sorted(remove_stale_staging(output)) == [".art.old-abc", ".art.partial-old1"]
    assert _hidden(tmp_path) == [".other.partial-x"]
