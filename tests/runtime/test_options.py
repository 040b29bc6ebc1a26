"""RunOptions: the one options object every task class takes, checked when made, given whole or as keywords."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from beit_runtime import Classifier, FeatureExtractor, RunOptions, Segmenter
from beit_runtime.errors import InputError, ManifestError
from beit_runtime.manifest import EngineParity, Manifest, ManifestRecord, load_manifest, update_manifest
from beit_runtime.options import non_negative_int, positive_int
from beit_runtime.segmenter import SegmenterOptions


@pytest.mark.parametrize(
    "values, option",
    [
        ({"precision": "fp8"}, "precision"),
        ({"backend": "tvm"}, "backend"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.0}, "batch_size"),
        ({"batch_size": True}, "batch_size"),
        ({"intra_op_threads": -1}, "intra_op_threads"),
        ({"providers": "CPUExecutionProvider"}, "providers"),
        ({"providers": [1]}, "providers"),
        ({"parity_policy": "warn"}, "parity_policy"),
        ({"verify_files": "no"}, "verify_files"),
        ({"exif_orientation": "false"}, "exif_orientation"),
        ({"fused_attention": 1}, "fused_attention"),
        ({"device_normalisation": None}, "device_normalisation"),
    ],
)
def test_bad_values_raise_input_error_naming_the_option(values, option):
    with pytest.raises(InputError, match=f"^{option} must be"):
        RunOptions(**values)


def test_options_are_frozen_normalised_and_replaced_by_keywords():
    options = RunOptions(precision="fp16", batch_size=np.int64(4), providers=["CPUExecutionProvider"])
    assert options.batch_size == 4 and type(options.batch_size) is int
    assert options.providers == ("CPUExecutionProvider",) and hash(options) == hash(dataclasses.replace(options))
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.batch_size = 2  # type: ignore[misc]
    resolved = RunOptions.resolve(options, {"batch_size": 16}, owner="Classifier")
    assert (resolved.precision, resolved.batch_size, options.batch_size) == ("fp16", 16, 4)
    assert RunOptions.resolve(None, {}, owner="Classifier") == RunOptions()
    with pytest.raises(InputError, match="batch_size"):  # keywords are checked too
        RunOptions.resolve(options, {"batch_size": -3}, owner="Classifier")


def test_integer_checks_name_the_value():
    assert positive_int("top_k", np.int32(3)) == 3 and non_negative_int("threads", 0) == 0
    with pytest.raises(InputError, match=r"^top_k must be a positive integer, got 0$"):
        positive_int("top_k", 0)
    with pytest.raises(InputError, match=r"^threads must be a non-negative integer, got -1$"):
        non_negative_int("threads", -1)


def test_unknown_keyword_is_a_type_error_naming_the_valid_ones(beit_classifier_artifact, beit_segmentation_artifact):
    with pytest.raises(TypeError, match=r"Classifier\(\) got unexpected keyword argument\(s\) 'batchsize'.*batch_size"):
        Classifier(beit_classifier_artifact, batchsize=4)
    with pytest.raises(TypeError, match=r"Segmenter\(\) got unexpected.*'strides'; Segmenter's own are mode, "
                                        r"crop_size, stride, slide_scale, fused_postprocess; .*intra_op_threads"):
        Segmenter(beit_segmentation_artifact, strides=(16, 16))  # a misspelt "stride": its own keywords are named


def test_task_classes_take_options_whole_or_as_keywords(beit_classifier_artifact, beit_backbone_artifact):
    options = RunOptions(backend="onnxruntime", batch_size=2, intra_op_threads=1, providers=["CPUExecutionProvider"])
    with Classifier(beit_classifier_artifact, options=options) as whole, \
            Classifier(beit_classifier_artifact, backend="onnxruntime", batch_size=2, intra_op_threads=1,
                       providers=["CPUExecutionProvider"]) as keywords:
        assert whole.options == keywords.options == options
        assert (whole.batch_size, whole.precision, whole.backend) == (2, "fp32", "onnxruntime")
        assert repr(whole) == f"Classifier({str(whole.manifest.folder)!r}, precision='fp32', backend='onnxruntime')"
    with FeatureExtractor(beit_backbone_artifact, options=options, batch_size=3) as extractor:
        assert extractor.options == dataclasses.replace(options, batch_size=3)  # keywords replace fields


def test_segmenter_adds_only_its_own_options(beit_segmentation_artifact):
    image = np.random.default_rng(0).integers(0, 256, size=(40, 52, 3), dtype=np.uint8)
    options = RunOptions(batch_size=2, exif_orientation=False)
    with Segmenter(beit_segmentation_artifact, options=options, mode="slide", stride=(16, 16)) as whole, \
            Segmenter(beit_segmentation_artifact, mode="slide", stride=(16, 16), batch_size=2,
                      exif_orientation=False) as keywords:
        assert whole.options == keywords.options == options
        assert whole.segmenter_options == keywords.segmenter_options == SegmenterOptions(mode="slide", stride=16)
        assert (whole.mode, whole.stride, whole.crop_size) == ("slide", (16, 16), (32, 32))
        np.testing.assert_array_equal(whole(image).labels, keywords(image).labels)


@pytest.mark.parametrize(
    "values, message",
    [({"mode": "tiles"}, "^mode must be one of"), ({"stride": (16, 0)}, "^stride must be a positive int"),
     ({"mode": "slide", "stride": 1.5}, r"^stride must be a positive int .*got 1\.5"),
     ({"fused_postprocess": "no"}, "^fused_postprocess must be True or False, got 'no'"),
     ({"crop_size": (32, 32, 3)}, "^crop_size must be"), ({"slide_scale": 0}, "^slide_scale must be")],
)
def test_segmenter_options_are_checked_before_the_artifact_is_read(tmp_path, values, message):
    with pytest.raises(InputError, match=message):
        SegmenterOptions(**values)
    with pytest.raises(InputError, match=message):
        Segmenter(tmp_path / "no-such-artifact", **values)


def test_parity_policy_ignore_runs_an_engine_whose_recorded_parity_failed(beit_classifier_artifact, tmp_path):
    pytest.importorskip("openvino", reason="openvino is not installed (pip install beit-deploy[openvino])")
    artifact = Path(shutil.copytree(beit_classifier_artifact, tmp_path / "artifact"))

    def fail_openvino(manifest: Manifest) -> ManifestRecord:
        report = manifest.parity["fp32"]
        failed = dataclasses.replace(report, passed=False, backend="openvino", failures=("case 0: logits: too far",))
        engines = MappingProxyType({**report.engines, "openvino": EngineParity(measured=True, report=failed)})
        return dataclasses.replace(manifest, parity=MappingProxyType({**manifest.parity, "fp32": dataclasses.replace(
            report, engines=engines)}))

    update_manifest(artifact, fail_openvino)
    assert load_manifest(artifact).engine_parity("fp32", "openvino").failed
    with pytest.raises(ManifestError, match="outside the"):
        Classifier(artifact, backend="openvino")
    with Classifier(artifact, backend="openvino", parity_policy="ignore") as classifier:
        assert classifier.backend == "openvino" and classifier.logits(np.zeros((32, 32, 3), np.uint8)).ndim == 1


def test_bools_are_taken_as_given_and_strings_are_not_bools(beit_segmentation_artifact):
    assert RunOptions(verify_files=np.bool_(False), exif_orientation=False).verify_files is False
    with pytest.raises(InputError, match=r"^exif_orientation must be True or False, got 'false'"):
        Segmenter(beit_segmentation_artifact, exif_orientation="false")
    with Segmenter(beit_segmentation_artifact, fused_postprocess=False) as segmenter:
        assert segmenter.postprocess is None


@pytest.mark.parametrize("artifact", [None, 3, b"artifacts/x"])
def test_an_artifact_that_is_not_a_path_is_an_input_error(artifact):
    with pytest.raises(InputError, match=r"^Classifier takes the artifact folder beit-export wrote, as a str or "
                                         r"pathlib\.Path; got"):
        Classifier(artifact)


def test_more_threads_than_four_per_cpu_is_refused_before_any_engine_starts(tmp_path, capsys):
    from beit_runtime.argument_types import max_threads
    from beit_runtime.cli import main
    from beit_runtime.planning.tune import TuneOptions

    too_many = max_threads() + 1
    assert RunOptions(intra_op_threads=max_threads()).intra_op_threads == max_threads()
    with pytest.raises(InputError, match=rf"intra_op_threads is {too_many}, more than 4 threads per CPU"):
        RunOptions(intra_op_threads=too_many)
    with pytest.raises(InputError, match="threads is 1000000"):
        TuneOptions(threads=10**6)
    commands = ([str(tmp_path), "y.png"], ["tune", str(tmp_path)], ["evaluate", str(tmp_path), "--data", str(tmp_path)])
    for command in commands:
        with pytest.raises(SystemExit) as exited:
            main([*command, "--threads", str(too_many)])
        assert exited.value.code == 2
        assert f"--threads: expected at most {max_threads()} threads" in capsys.readouterr().err


def test_the_typed_keywords_are_exactly_the_run_options():
    from beit_runtime.options import RunKeywords

    assert tuple(RunKeywords.__annotations__) == RunOptions.field_names()
