"""Every generated config.pbtxt parses with Triton's own schema (tritonclient's model_config_pb2) into
exactly the config dict it was written from, for each task and each --model-backend; and the configs
say what the manifest says (names, dtypes, dims) and what the options ask for."""

from __future__ import annotations

from dataclasses import replace

import pytest
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from beit_export.triton import TritonOptionsError, TritonRepositoryOptions, repository_configs, to_pbtxt
from beit_export.triton.warmup import warmup_samples, with_warmup
from beit_runtime.manifest import EngineRecord, Manifest, ShapeRange, load_manifest

TASK_ARTIFACTS = ("beit_classifier_artifact", "beit_segmentation_artifact", "beit_backbone_artifact",
                  "beit_mim_artifact")
BACKENDS = {"onnxruntime": {}, "python": {}, "tensorrt": {"kind": "gpu"}}


def parsed(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


def with_fakes(manifest: Manifest) -> Manifest:
    """The manifest plus an fp16 graph record and TensorRT plan records (configs read only the records)."""
    fp32 = manifest.graphs["fp32"]
    pixels = tuple(int(dim) for dim in fp32.inputs[0].shape[1:])
    profile = {"pixel_values": ShapeRange(min=(1, *pixels), opt=(8, *pixels), max=(32, *pixels))}
    engines = {variant: EngineRecord(file=f"model.{variant}.plan", graph=variant, tensorrt_version="10.0",
                                     gpu_name="test", compute_capability="9.0", profile=profile)
               for variant in ("fp32", "fp16")}
    graphs = {**manifest.graphs, "fp16": replace(fp32, precision="fp16", file="model.fp16.onnx")}
    return replace(manifest, graphs=graphs, engines=engines)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("artifact", TASK_ARTIFACTS)
def test_configs_parse_with_tritons_schema_into_the_data_they_came_from(artifact, backend, request):
    manifest = with_fakes(load_manifest(request.getfixturevalue(artifact)))
    for precision in ("fp32", "fp16"):
        options = TritonRepositoryOptions(model_backend=backend, precision=precision, preferred_batch_sizes=(4, 8),
                                          intra_op_threads=2, **BACKENDS[backend])
        configs = repository_configs(manifest, options, name="m")
        for name, config in configs.items():
            message = parsed(to_pbtxt(config))
            assert message == json_format.ParseDict(config, model_config_pb2.ModelConfig()), name
            assert message.name == name


@pytest.mark.parametrize("artifact", TASK_ARTIFACTS)
def test_configs_with_warmup_parse_and_feed_every_backends_engine_the_same_pixels(artifact, request):
    manifest = with_fakes(load_manifest(request.getfixturevalue(artifact)))
    pixels = set()
    for backend, extra in BACKENDS.items():
        options = TritonRepositoryOptions(model_backend=backend, **extra)
        configs = repository_configs(manifest, options, name="m")
        samples = warmup_samples(configs, manifest, options, name="m")
        for name, config in with_warmup(configs, samples).items():
            message = parsed(to_pbtxt(config))
            assert message == json_format.ParseDict(config, model_config_pb2.ModelConfig()), name
            assert len(message.model_warmup) == (0 if message.platform == "ensemble" else 1), name
            for sample in message.model_warmup:  # every input named, one file each (or zeros)
                assert sorted(sample.inputs) == sorted(spec.name for spec in message.input), name
                files = {spec.input_data_file for spec in sample.inputs.values() if not spec.zero_data}
                assert files == set(samples[name].files), name
        pixels.add(samples["m_engine"].files["pixel_values"])
    assert len(pixels) == 1


def test_warmup_inputs_are_written_as_a_map_field():
    sample = {"name": "s", "batch_size": 1, "inputs": {
        "image": {"data_type": "TYPE_STRING", "dims": [1], "input_data_file": "image"},
        "mask": {"data_type": "TYPE_BOOL", "dims": [4], "zero_data": True}}}
    text = to_pbtxt({"name": "m", "model_warmup": [sample]})
    assert text == """name: "m"
model_warmup {
  name: "s"
  batch_size: 1
  inputs {
    key: "image"
    value {
      data_type: TYPE_STRING
      dims: [ 1 ]
      input_data_file: "image"
    }
  }
  inputs {
    key: "mask"
    value {
      data_type: TYPE_BOOL
      dims: [ 4 ]
      zero_data: true
    }
  }
}
"""
    assert parsed(text).model_warmup[0].inputs["mask"].zero_data


def test_a_typo_in_a_config_does_not_parse():
    with pytest.raises(text_format.ParseError, match="max_batch_sizes"):
        parsed(to_pbtxt({"name": "m", "max_batch_sizes": 8}))


def test_strings_with_quotes_backslashes_and_unicode_round_trip():
    value = 'a "quoted" \\ back\nslash é 猫'
    message = parsed(to_pbtxt({"name": "m", "parameters": {"k": {"string_value": value}}}))
    assert message.parameters["k"].string_value == value


def test_classification_repository_models_and_tensors(beit_classifier_artifact):
    manifest = load_manifest(beit_classifier_artifact)
    options = TritonRepositoryOptions(model_backend="python", top_k=3, max_batch_size=16, instances=2,
                                      max_queue_delay_us=500)
    written = repository_configs(manifest, options, name="cls")
    configs = {name: parsed(to_pbtxt(config)) for name, config in written.items()}
    assert sorted(configs) == ["cls", "cls_engine", "cls_postprocess", "cls_preprocess"]
    ensemble = configs["cls"]
    assert ensemble.platform == "ensemble" and ensemble.max_batch_size == 16
    assert [(t.name, model_config_pb2.DataType.Name(t.data_type), list(t.dims)) for t in ensemble.output] == [
        ("labels", "TYPE_STRING", [3]), ("scores", "TYPE_FP32", [3]), ("class_ids", "TYPE_INT32", [3])]
    steps = [step.model_name for step in ensemble.ensemble_scheduling.step]
    assert steps == ["cls_preprocess", "cls_engine", "cls_postprocess"]
    assert ensemble.parameters["beit_task"].string_value == "image-classification"
    assert ensemble.parameters["beit_top_k"].string_value == "3"
    engine = configs["cls_engine"]
    height, width = manifest.input.height, manifest.input.width
    assert [(t.name, list(t.dims)) for t in engine.input] == [("pixel_values", [3, height, width])]
    assert [(t.name, list(t.dims)) for t in engine.output] == [("logits", [len(manifest.labels)])]
    for model in configs.values():
        if model.platform != "ensemble":
            assert model.dynamic_batching.max_queue_delay_microseconds == 500
            groups = [(g.kind, g.count) for g in model.instance_group]
            assert groups == [(model_config_pb2.ModelInstanceGroup.KIND_CPU, 2)]


def test_segmentation_ensemble_feeds_the_original_size_to_postprocess(beit_segmentation_artifact):
    manifest = load_manifest(beit_segmentation_artifact)
    configs = repository_configs(manifest, TritonRepositoryOptions(model_backend="python"), name="seg")
    steps = {step["model_name"]: step for step in configs["seg"]["ensemble_scheduling"]["step"]}
    assert steps["seg_preprocess"]["output_map"] == {"pixel_values": "pixel_values", "original_size": "original_size"}
    assert steps["seg_postprocess"]["input_map"] == {"logits": "logits", "original_size": "original_size"}
    assert configs["seg"]["output"] == [{"name": "segmentation", "data_type": "TYPE_INT32", "dims": [-1, -1]}]
    logits = list(manifest.graphs["fp32"].outputs[0].shape[1:])
    assert configs["seg_engine"]["output"][0]["dims"] == logits


def test_the_largest_accepted_image_keeps_a_segmenters_full_size_logits_within_2_gib(beit_segmentation_artifact,
                                                                                     beit_classifier_artifact):
    def largest(manifest, **options):
        configs = repository_configs(manifest, TritonRepositoryOptions(model_backend="python", **options), name="m")
        found = {configs[f"m_{role}"]["parameters"]["beit_max_image_pixels"]["string_value"]
                 for role in ("preprocess", "postprocess")}
        assert len(found) == 1  # the two models enforce one limit
        return int(found.pop())

    segmenter = load_manifest(beit_segmentation_artifact)
    ade = replace(segmenter, labels={index: f"class {index}" for index in range(150)})
    assert largest(ade) == 2 * 2**30 // (4 * 150) == 3_579_139  # 150 classes at 25 Mpx: 15 GB of logits per image
    assert largest(segmenter) == 25_000_000  # a few classes: the phone-photo default
    assert largest(ade, max_image_pixels=12_000_000) == 12_000_000  # the option, when given, decides
    assert largest(load_manifest(beit_classifier_artifact)) == 25_000_000


def test_backbone_and_masked_image_modeling(beit_backbone_artifact, beit_mim_artifact):
    backbone = repository_configs(load_manifest(beit_backbone_artifact), TritonRepositoryOptions(), name="bb")
    assert [t["name"] for t in backbone["bb_postprocess"]["input"]] == ["pooler_output"]
    assert backbone["bb"]["output"] == [{"name": "embedding", "data_type": "TYPE_FP32", "dims": [32]}]
    mim = repository_configs(load_manifest(beit_mim_artifact), TritonRepositoryOptions(), name="mim")
    assert sorted(mim) == ["mim_engine", "mim_preprocess"]  # served engine-only
    inputs = {t["name"]: t["data_type"] for t in mim["mim_engine"]["input"]}
    assert inputs == {"pixel_values": "TYPE_FP32", "bool_masked_pos": "TYPE_BOOL"}


def test_onnxruntime_engine_on_gpu_gets_the_tensorrt_accelerator(beit_classifier_artifact):
    manifest = with_fakes(load_manifest(beit_classifier_artifact))
    engine = repository_configs(manifest, TritonRepositoryOptions(kind="gpu", precision="fp16"), name="c")["c_engine"]
    assert engine["platform"] == "onnxruntime_onnx" and engine["default_model_filename"] == "model.fp16.onnx"
    assert engine["instance_group"][0]["kind"] == "KIND_GPU"
    accelerator = engine["optimization"]["execution_accelerators"]["gpu_execution_accelerator"][0]
    assert accelerator["name"] == "tensorrt" and accelerator["parameters"]["precision_mode"] == "FP16"
    pre = repository_configs(manifest, TritonRepositoryOptions(kind="gpu"), name="c")["c_preprocess"]
    assert pre["instance_group"][0]["kind"] == "KIND_CPU"  # python pre/post-processing stays on CPU
    cpu = repository_configs(manifest, TritonRepositoryOptions(), name="c")["c_engine"]
    assert "optimization" not in cpu and cpu["default_model_filename"] == "model.onnx"


def test_tensorrt_needs_a_plan_that_covers_the_batch(beit_classifier_artifact):
    manifest = load_manifest(beit_classifier_artifact)
    with pytest.raises(TritonOptionsError, match="build-engine"):
        repository_configs(manifest, TritonRepositoryOptions(model_backend="tensorrt", kind="gpu"), name="c")
    faked = with_fakes(manifest)
    options = TritonRepositoryOptions(model_backend="tensorrt", kind="gpu", max_batch_size=32)
    engine = repository_configs(faked, options, name="c")["c_engine"]
    assert engine["platform"] == "tensorrt_plan" and engine["default_model_filename"] == "model.plan"
    with pytest.raises(TritonOptionsError, match="at most 32"):
        too_large = TritonRepositoryOptions(model_backend="tensorrt", kind="gpu", max_batch_size=64)
        repository_configs(faked, too_large, name="c")


@pytest.mark.parametrize("options, match", [
    ({"model_backend": "tensorrt"}, "--kind gpu"),
    ({"precision": "bf16"}, "precision"),
    ({"max_batch_size": 0}, "--max-batch-size"),
    ({"preferred_batch_sizes": (16,)}, "exceeds --max-batch-size"),
    ({"name": "bad/name"}, "model name"),
    ({"top_k": 0}, "--top-k"),
    ({"kind": "tpu"}, "kind"),
])
def test_bad_options_are_refused_naming_the_option(options, match):
    with pytest.raises(TritonOptionsError, match=match):
        TritonRepositoryOptions(**options)


def test_missing_precision_names_the_export_flag(beit_classifier_artifact):
    with pytest.raises(TritonOptionsError, match="--int8"):
        repository_configs(load_manifest(beit_classifier_artifact), TritonRepositoryOptions(precision="int8"), name="c")
