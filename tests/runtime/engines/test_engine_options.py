"""``load_engine`` checks its keyword options against the chosen backend's engine before loading anything: an
option the engine does not take is an InputError naming the ones it takes (and the new name of a renamed one),
not a bare TypeError from the engine's constructor."""

from __future__ import annotations

import pytest

from beit_runtime.engines import load_engine
from beit_runtime.errors import InputError


def test_threads_on_openvino_names_its_new_name(beit_classifier_artifact):
    with pytest.raises(InputError) as refused:
        load_engine(beit_classifier_artifact / "model.onnx", backend="openvino", threads=1)
    assert str(refused.value) == ("backend openvino takes no option threads (threads was renamed: use "
                                  "intra_op_threads); it takes intra_op_threads, inference_precision, cache_dir")


@pytest.mark.parametrize("option", [{"inter_op_threads": 2}, {"io_binding": True}, {"intra_op_threads": 1, "bogus": 2}])
def test_an_onnxruntime_only_or_unknown_option_on_openvino_is_named(beit_classifier_artifact, option):
    unknown = next(name for name in option if name != "intra_op_threads")
    with pytest.raises(InputError, match=rf"^backend openvino takes no option {unknown}; it takes intra_op_threads"):
        load_engine(beit_classifier_artifact / "model.onnx", backend="openvino", **option)


def test_a_rename_is_only_suggested_where_the_new_name_is_taken(tmp_path):
    with pytest.raises(InputError) as refused:  # checked before the file is read: it need not exist
        load_engine(tmp_path / "model.plan", threads=1)
    assert str(refused.value) == "backend tensorrt takes no option threads; it takes device_id"


def test_onnxruntime_takes_its_own_options(beit_classifier_artifact):
    engine = load_engine(beit_classifier_artifact / "model.onnx", intra_op_threads=1, inter_op_threads=1,
                         io_binding=False)
    engine.close()
