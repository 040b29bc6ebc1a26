"""benchmarks.parity_figures --quick on the tiny models: the manifest's parity records and the demo scenes'
mIoU land in the JSON, ``python -m benchmarks.report --readme`` writes README's parity block from it, and
``--check`` catches a figure edited by hand.

No figure is asserted beyond what the exporter's parity gate already guarantees: the figures are the
benchmark's business, the test checks where they come from and where they go."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import parity_figures
from benchmarks.report import parity as parity_block
from benchmarks.report.readme import BENCHMARKS_DIR, README

REPO = Path(__file__).resolve().parents[2]
STORED = ("RESULTS.json", "RESULTS-seg640.json", "RESULTS-serving.json", "RESULTS-gpu.json")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("parity-figures")
    path = folder / "RESULTS-parity.json"
    code = parity_figures.main(["--quick", "--write-results", str(path)])
    return code, json.loads(path.read_text(encoding="utf-8")), folder


def _report(folder: Path, *action: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "benchmarks.report", *action, "--readme-path", str(folder / "README.md"),
               "--results-dir", str(folder)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_the_json_holds_the_manifest_records_and_the_machine(quick_run):
    code, results, _ = quick_run
    assert code == 0 and results["settings"]["quick"] is True
    assert results["machine"]["cpu"] and results["machine"]["threads_used"] >= 1
    exports = results["exports"]
    assert set(exports) == {"base-224", "base-224-dynamic", "ade-640", "demo-segmentation"}
    assert set(exports["base-224"]["parity"]) == {"fp32", "fp16", "int8"}
    for entry in exports.values():
        fp32 = entry["parity"]["fp32"]
        assert fp32["passed"] and {"rel_l2", "max_abs", "top1_agreement"} <= set(fp32["outputs"]["logits"])
        assert all("logits" in case for case in fp32["cases"].values())
    assert exports["base-224"]["parity"]["int8"]["conversion"]["method"] == "static-qdq"
    assert exports["base-224-dynamic"]["parity"]["int8"]["conversion"]["method"] == "dynamic"
    dynamic, fixed = (exports[name]["parity"]["fp32"]["cases"] for name in ("base-224-dynamic", "base-224"))
    assert len(dynamic) > len(fixed)  # the extra resolutions of --dynamic-resolution


def test_the_scenes_are_scored_per_engine(quick_run):
    segmentation = quick_run[1]["demo_segmentation"]
    assert segmentation["scenes"] == 4 and segmentation["reference"] == "onnxruntime fp32"
    rows = segmentation["rows"]
    assert rows["onnxruntime fp32"]["label_agreement_with_fp32"] == 1.0
    measured = [row for row in rows.values() if "miou" in row]
    assert len(measured) >= 2 and all(0.0 <= row["miou"] <= 1.0 for row in measured)
    assert set(quick_run[1]["demo_checkpoint_bytes"]) == {"beit-deploy/demo-segmentation",
                                                          "beit-deploy/demo-classification"}


@pytest.fixture(scope="module")
def written_readme(quick_run):
    folder = quick_run[2]
    for name in STORED:
        shutil.copyfile(BENCHMARKS_DIR / name, folder / name)
    shutil.copyfile(README, folder / "README.md")
    done = _report(folder, "--readme")
    assert done.returncode == 0, done.stderr
    return folder, (folder / "README.md").read_text(encoding="utf-8")


def test_readme_block_is_written_from_the_json(quick_run, written_readme):
    results, (_, text) = quick_run[1], written_readme
    block = " ".join(text[text.index(parity_block.BEGIN):text.index(parity_block.END)].split())  # unwrapped
    exports = results["exports"]
    static = exports["base-224"]["parity"]["int8"]["outputs"]["logits"]["rel_l2"]
    fp16 = exports["base-224"]["parity"]["fp16"]["outputs"]["logits"]["rel_l2"]
    fp32_miou = results["demo_segmentation"]["rows"]["onnxruntime fp32"]["miou"]
    assert f"static QDQ {static:.1e}" in block and f"rel-L2 {fp16:.1e}, top-1" in block
    assert f"vs {fp32_miou:.4f} fp32" in block
    assert "tiny-beit" in block and "--quick" in block and results["machine"]["cpu"] in block
    assert "96.66%" in block  # the demo classifier's top-1, from RESULTS.json
    assert text.index(parity_block.END) < text.index("<!-- figures:begin")  # just above the speed block


def test_check_catches_a_hand_edit_of_the_parity_block(written_readme):
    folder, text = written_readme
    assert _report(folder, "--check").returncode == 0
    start = text.index(parity_block.BEGIN)
    edited = text[:start] + text[start:].replace("top-1 agreement", "top-1 agreement 0.99 or", 1)
    (folder / "README.md").write_text(edited, encoding="utf-8")
    drift = _report(folder, "--check")
    assert drift.returncode == 1 and "parity" in drift.stderr and "--readme" in drift.stderr
    (folder / "README.md").write_text(text, encoding="utf-8")


def test_a_partial_run_keeps_the_other_stored_jobs():
    previous = {"exports": {"ade-640": {"model": "old"}, "base-224": {"model": "old"}},
                "demo_segmentation": {"model": "old"}}
    fresh = {"machine": {}, "exports": {"base-224": {"model": "new"}}, "demo_segmentation": {}}
    merged = parity_figures.merge(previous, fresh)
    assert merged["exports"] == {"ade-640": {"model": "old"}, "base-224": {"model": "new"}}
    assert merged["demo_segmentation"] == {"model": "old"}


def test_unknown_job_is_refused(capsys):
    assert parity_figures.main(["--quick", "--only", "nope"]) == 2
    assert "unknown job" in capsys.readouterr().err
