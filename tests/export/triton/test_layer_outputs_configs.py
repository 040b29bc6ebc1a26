"""The optional outputs in a served repository (issue 18): the ensemble offers hidden_states / attentions
straight from the engine when the artifact has them, and nothing new when it does not."""

from __future__ import annotations

import json

from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2

from beit_export.triton import TritonRepositoryOptions, repository_configs, to_pbtxt
from beit_runtime.manifest import load_manifest
from beit_runtime.serving_protocol import PARAMETER_LAYER_OUTPUTS


def test_the_ensemble_serves_the_optional_outputs_of_the_graph(beit_layer_outputs_artifact):
    manifest = load_manifest(beit_layer_outputs_artifact)
    for backend in ("onnxruntime", "python"):
        configs = repository_configs(manifest, TritonRepositoryOptions(model_backend=backend), name="m")
        ensemble = configs["m"]
        outputs = {spec["name"]: spec["dims"] for spec in ensemble["output"]}
        assert outputs["hidden_states"] == [5, 17, 32] and outputs["attentions"] == [2, 2, 17, 17]
        engine_step = ensemble["ensemble_scheduling"]["step"][1]
        assert {"hidden_states", "attentions"} <= set(engine_step["output_map"])
        assert {spec["name"] for spec in configs["m_engine"]["output"]} == {"logits", "hidden_states", "attentions"}
        parameter = json.loads(ensemble["parameters"][PARAMETER_LAYER_OUTPUTS]["string_value"])
        assert parameter["outputs"] == ["hidden_states", "attentions"] and parameter["attention_layers"] == [1, 3]
        assert parameter["patch_size"] == 8 and parameter["preprocessing"]["size"] == {"height": 32, "width": 32}
        message = text_format.Parse(to_pbtxt(ensemble), model_config_pb2.ModelConfig())
        assert message == json_format.ParseDict(ensemble, model_config_pb2.ModelConfig())


def test_a_default_artifact_serves_what_it_did(beit_classifier_artifact):
    ensemble = repository_configs(load_manifest(beit_classifier_artifact), TritonRepositoryOptions(), name="m")["m"]
    assert [spec["name"] for spec in ensemble["output"]] == ["labels", "scores", "class_ids"]
    assert PARAMETER_LAYER_OUTPUTS not in ensemble["parameters"]
