"""``beit-export triton --precision fp16 --fused-attention`` serves the fp16-fused graph (built with
``--fused-norms``): the onnxruntime backend's config loads that file on the CUDA provider without a
TensorRT accelerator, and the python backend, served by the real Triton on the CPU provider, answers
what the in-process ``Classifier(precision="fp16", fused_attention=True)`` answers."""

from __future__ import annotations

import signal

import onnx
import pytest

from beit_export.cli import main as beit_export
from beit_export.triton import TritonOptionsError, TritonRepositoryOptions, repository_configs
from beit_runtime import Classifier
from beit_runtime.manifest import load_manifest
from beit_runtime.remote import RemoteClassifier
from tests.runtime.serving.triton_server import endpoints, signature, start_beit_serve

FUSED = TritonRepositoryOptions(precision="fp16", fused_attention=True)


def test_onnxruntime_engine_loads_the_fused_graph_without_tensorrt(beit_fused_norms_artifact):
    manifest = load_manifest(beit_fused_norms_artifact)
    for kind in ("cpu", "gpu"):
        options = TritonRepositoryOptions(precision="fp16", fused_attention=True, kind=kind)
        engine = repository_configs(manifest, options, name="f")["f_engine"]
        assert engine["default_model_filename"] == "model.fp16-fused.onnx" and "optimization" not in engine
    ops = {node.op_type for node in onnx.load(str(beit_fused_norms_artifact / "model.fp16-fused.onnx")).graph.node}
    assert "SkipLayerNormalization" in ops  # the graph the engine loads is the --fused-norms one


def test_options_that_cannot_serve_the_fused_graph_are_refused(beit_classifier_artifact):
    with pytest.raises(TritonOptionsError, match="use --precision fp16"):
        TritonRepositoryOptions(fused_attention=True)
    with pytest.raises(TritonOptionsError, match="TensorRT plans"):
        TritonRepositoryOptions(precision="fp16", fused_attention=True, model_backend="tensorrt", kind="gpu")
    with pytest.raises(TritonOptionsError, match="re-export with --fp16 --fused-attention"):
        repository_configs(load_manifest(beit_classifier_artifact), FUSED, name="c")


def test_served_fused_graph_answers_like_the_in_process_one(serve_layout, beit_fused_norms_artifact, photo_bytes,
                                                            tmp_path):
    repository = tmp_path / "fused"
    assert beit_export(["triton", str(beit_fused_norms_artifact), "--output", str(repository), "--name", "fused",
                        "--model-backend", "python", "--precision", "fp16", "--fused-attention"]) == 0
    assert "the fp16-fused graph" in (repository / "README.md").read_text()
    process, ready = start_beit_serve([repository], log=tmp_path / "server.log")
    try:
        http, _ = endpoints(ready)
        cpu = ["CPUExecutionProvider"]
        with RemoteClassifier(http, "fused") as remote, \
                Classifier(beit_fused_norms_artifact, precision="fp16", fused_attention=True, providers=cpu) as local:
            assert local.engine.path.name == "model.fp16-fused.onnx"
            for photo in photo_bytes:
                assert signature(remote.classify(photo, top_k=5)) == signature(local.classify(photo, top_k=5))
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    assert "graph='fp16-fused'" in (tmp_path / "server.log").read_text()  # the engine model's load line
