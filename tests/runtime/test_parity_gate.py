"""The runtime's parity gate: the record that judges the engine here (``openvino-avx2`` where OpenVINO runs at
AVX2), and refusals that name what can actually run; ``precision="auto"``'s plan and its reasons."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from beit_runtime import Classifier
from beit_runtime.cli import main
from beit_runtime.errors import InputError, ManifestError
from beit_runtime.manifest import EngineParity, Manifest, ManifestRecord, load_manifest, update_manifest
from beit_runtime.options import RunOptions
from beit_runtime.parity_gate import AVX2_RECORD, ISA_CAP_VARIABLE, cpu_flags, runs_at_avx2
from beit_runtime.run_choice import resolved_options


def _with_records(source: Path, folder: Path, **passed: bool) -> Path:
    """A copy of ``source`` whose fp32 graph has engine records ``name=passed`` (keyword names: _ for -)."""
    artifact = Path(shutil.copytree(source, folder))

    def edit(manifest: Manifest) -> ManifestRecord:
        report = manifest.parity["fp32"]
        engines = dict(report.engines)
        for key, ok in passed.items():
            name = key.replace("_", "-")
            precision = "bf16" if name.endswith("bf16") else "fp32"
            judged = dataclasses.replace(report, passed=ok, precision=precision, backend=name,
                                         failures=() if ok else ("case 0: logits: too far",))
            engines[name] = EngineParity(measured=True, report=judged)
        fp32 = dataclasses.replace(report, engines=MappingProxyType(engines))
        return dataclasses.replace(manifest, parity=MappingProxyType({**manifest.parity, "fp32": fp32}))

    update_manifest(artifact, edit)
    return artifact


def test_a_failed_bf16_record_advises_what_runs_bf16_cannot_move_to_onnxruntime(beit_classifier_artifact, tmp_path):
    artifact = _with_records(beit_classifier_artifact, tmp_path / "a", openvino=True, openvino_bf16=False)
    for backend in ("openvino", "auto"):
        with pytest.raises(ManifestError, match="on openvino-bf16 outside the bf16 tolerances") as refused:
            Classifier(artifact, precision="bf16", backend=backend)
        message = str(refused.value)
        assert "precision='fp32'" in message and "parity_policy='ignore'" in message
        assert "backend='onnxruntime'" not in message
    with Classifier(artifact, precision="fp32", backend="openvino") as classifier:  # what the advice says runs
        assert classifier.logits(np.zeros((32, 32, 3), np.uint8)).ndim == 1


def test_a_failed_engine_record_names_the_backends_whose_records_passed(beit_classifier_artifact, tmp_path):
    artifact = _with_records(beit_classifier_artifact, tmp_path / "a", openvino=False)
    with pytest.raises(ManifestError, match=r"use backend='onnxruntime' for precision='fp32' \(its record for this "
                                            r"graph passed\), or parity_policy='ignore'"):
        Classifier(artifact, backend="openvino")


def test_isa_cap_in_the_environment_means_openvino_runs_at_avx2(monkeypatch):
    monkeypatch.setenv(ISA_CAP_VARIABLE, "avx2")
    assert runs_at_avx2()
    monkeypatch.delenv(ISA_CAP_VARIABLE)
    assert runs_at_avx2() == ("avx2" in cpu_flags() and not cpu_flags() & {"avx512f", "avx_vnni", "amx_int8"})


def test_a_failed_openvino_avx2_record_is_enforced_where_openvino_runs_at_avx2(beit_classifier_artifact, tmp_path,
                                                                              monkeypatch):
    pytest.importorskip("openvino", reason="openvino is not installed (pip install beit-deploy[openvino])")
    artifact = _with_records(beit_classifier_artifact, tmp_path / "a", openvino=True, openvino_avx2=False)
    assert load_manifest(artifact).engine_parity("fp32", AVX2_RECORD).failed
    monkeypatch.setenv(ISA_CAP_VARIABLE, "AVX2")
    with pytest.raises(ManifestError, match=r"on openvino-avx2 \(OpenVINO runs at AVX2 here\) outside the fp32 "
                                            r"tolerances .*use backend='onnxruntime'"):
        Classifier(artifact, backend="openvino")
    with Classifier(artifact, backend="openvino", parity_policy="ignore") as classifier:
        assert classifier.backend == "openvino"
    monkeypatch.delenv(ISA_CAP_VARIABLE)
    if runs_at_avx2():
        pytest.skip("this CPU's best instruction set is AVX2: OpenVINO cannot run beyond it here")
    with Classifier(artifact, backend="openvino") as classifier:  # beyond AVX2 the 'openvino' record (passed) judges
        assert classifier.logits(np.zeros((32, 32, 3), np.uint8)).ndim == 1


def test_auto_without_a_plan_keeps_the_reason_when_a_backend_is_asked(beit_classifier_artifact):
    manifest = load_manifest(beit_classifier_artifact)
    options, reason = resolved_options(manifest, RunOptions(precision="auto", backend="openvino"))
    assert (options.backend, options.precision) == ("openvino", "fp32")
    assert reason.startswith("auto: fp32: no plan for this artifact on this machine; run `beit-run tune")
    assert "the plan chose" not in reason


def test_a_named_plan_that_does_not_exist_is_an_input_error(beit_classifier_artifact, tmp_path, capsys):
    missing = tmp_path / "nonexist.json"
    with pytest.raises(InputError, match=rf"plan {missing} does not exist: make it with `beit-run tune .* --plan "
                                         rf"{missing}`"):
        Classifier(beit_classifier_artifact, precision="auto", plan=missing)
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(image)
    assert main([str(beit_classifier_artifact), str(image), "--precision", "auto", "--plan", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"plan {missing} does not exist" in captured.err and "beit-run tune" in captured.err
    with Classifier(beit_classifier_artifact, precision="auto") as classifier:  # the cache plan stays optional
        assert classifier.precision == "fp32" and "no plan for this artifact" in classifier.choice
