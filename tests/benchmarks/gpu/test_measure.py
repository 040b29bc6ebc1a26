"""The GPU measurement script's dry run: every stage that needs no CUDA, on the CPU provider, with tiny
artifacts exported by the real pipeline (fp16 graphs included), as device.sh runs it on the GPU machine."""

from __future__ import annotations

import json
import subprocess

import pytest

from beit_export.options import ExportOptions
from beit_export.pipeline import export_artifact
from benchmarks.gpu.measure import RESULTS_FILE, main
from tests.conftest import tiny_checkpoint

REPO_ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("gpu-dry-run")
    options = ExportOptions(fp16=True, photos=False)
    for name, task in (("cls", "image-classification"), ("seg", "semantic-segmentation")):
        export_artifact(tiny_checkpoint("beit", task), output=root / name, options=options)
    return root


def test_dry_run_writes_every_stage(artifacts, tmp_path):
    assert main(["--classifier", str(artifacts / "cls"), "--segmenter", str(artifacts / "seg"),
                 "--out", str(tmp_path), "--work", str(tmp_path / "work"), "--dry-run"]) == 0
    results = json.loads((tmp_path / RESULTS_FILE).read_text())
    stages = results["stages"]
    assert list(stages) == ["segmentation_640", "classifier_graphs", "classifier_parity", "classifier_ort",
                            "classifier_end_to_end"]
    parity = stages["classifier_parity"]["value"]["variants"]
    assert all(figures["logits"]["failures"] == [] for figures in parity.values())
    rows = stages["classifier_ort"]["value"]
    defaults = ("fp16-fused", "fp16-fused-norms", "fp16-fused-norms-uint8", "fp16-fused-norms-packed",
                "fp16-fused-norms-packed-uint8")
    assert {(r["variant"], r["mode"]) for r in rows} == {(v, m) for v in defaults for m in ("host", "iobound")}
    assert all(r["copies_per_call"] == {"host_to_device": 1.0, "device_to_host": 1.0}
               for r in rows if r["mode"] == "iobound")
    assert all(r["copies_per_call"] == {"host_to_device": 0.0, "device_to_host": 0.0}
               for r in rows if r["mode"] == "host")
    assert stages["classifier_end_to_end"]["value"]["max_abs_between_paths"] == {"logits": 0.0}
    assert stages["classifier_end_to_end"]["value"]["graph"] == "fp16-fused-norms"
    segmentation = stages["segmentation_640"]["value"]
    assert {r["variant"] for r in segmentation} == {"fp16-fused", "fp16-fused-norms", "fp16-fused-norms-packed"}
    device_rows = [r for r in segmentation if r["mode"] == "device"]
    assert device_rows and all(r["pixel_agreement_with_host"] == 1.0 for r in device_rows)
    assert all(r["model_copies"]["device_to_host"] == 0 for r in device_rows)  # logits stayed on the device


def test_device_script_dry_run(artifacts, tmp_path):
    env = {"GPU_DRY_RUN": "1", "CLS_ARTIFACT": str(artifacts / "cls"), "SEG_ARTIFACT": str(artifacts / "seg"),
           "OUT": str(tmp_path), "MEASURE_ARGS": "--variants fp16-fused --modes iobound --no-end-to-end",
           "PATH": __import__("os").environ["PATH"]}
    done = subprocess.run(["bash", "benchmarks/gpu/device.sh", "finish"], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    stages = json.loads((tmp_path / RESULTS_FILE).read_text())["stages"]
    assert {r["variant"] for r in stages["classifier_ort"]["value"]} == {"fp16-fused"}
    assert (tmp_path / "measure.log").read_text().count("[gpu]") >= 4
