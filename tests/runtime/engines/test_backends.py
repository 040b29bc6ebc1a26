"""The backends' table: which backend runs which precision, how, and the one refusal of a pair that does not run."""

from __future__ import annotations

import pytest

from beit_runtime.engines import BACKEND_INFO, BACKENDS, GRAPH_BACKENDS, backend_for_precision, backend_info
from beit_runtime.errors import InputError
from beit_runtime.manifest import engine_parity_name
from beit_runtime.options import PRECISIONS


def test_every_precision_runs_somewhere_and_every_backend_is_a_choice():
    assert ("auto", *BACKEND_INFO) == BACKENDS
    assert {precision for info in BACKEND_INFO.values() for precision in info.precisions} == set(PRECISIONS)
    assert GRAPH_BACKENDS == ("onnxruntime", "openvino")


def test_bf16_is_the_fp32_graph_at_bf16_inference_precision_on_openvino_only():
    openvino = backend_info("openvino")
    assert openvino.graph_for("bf16") == "fp32" and openvino.engine_options("bf16") == {"inference_precision": "bf16"}
    assert openvino.parity_name("bf16") == engine_parity_name("openvino", inference_precision="bf16")
    assert openvino.parity_name("int8") == "openvino" and openvino.engine_options("int8") == {}
    assert backend_for_precision("bf16", "auto") == "openvino" == backend_for_precision("bf16", "openvino")
    assert backend_for_precision("fp16", "auto") is None  # several run it: the caller's auto rule picks
    assert backend_for_precision("int8", "openvino") == "openvino"
    for backend in ("onnxruntime", "tensorrt"):
        with pytest.raises(InputError) as refused:
            backend_for_precision("bf16", backend)
        assert str(refused.value) == (f"precision bf16 runs the fp32 graph on backend openvino only, not {backend}: "
                                      "choose backend openvino (or auto), or another precision")


def test_engines_take_the_run_options_under_one_thread_name():
    for name in GRAPH_BACKENDS:
        assert "intra_op_threads" in backend_info(name).option_fields
    with pytest.raises(InputError, match="backend must be one of"):
        backend_info("cuda")
