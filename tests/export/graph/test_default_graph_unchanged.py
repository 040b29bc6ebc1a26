"""The default export is byte-for-byte what it was before the optional outputs existed (issue 18).

``GOLDEN`` holds the sha256 of each tiny default graph as the exporter wrote it before issue 18's code
(the graph code at commit 55f9d1a, plus that working tree's issue-16 changes, which do not touch graph
construction), with the pinned torch / transformers / onnxscript / onnx below. An export is deterministic
(checked here: two exports, same bytes), so equal hashes mean the default path produces the very same graph.
With other library versions the golden figures do not apply and that test skips, saying so; the
determinism test and the comparison of a default export with an ``--outputs`` one still run.
"""

from __future__ import annotations

import hashlib
import importlib.metadata

import onnx
import pytest

from beit_export.graph import export_onnx
from beit_export.modeling import make_export_module
from beit_export.outputs import resolve_extra_outputs
from beit_runtime.tasks import task as registry_task
from tests.export.reference import example_inputs
from tests.tiny_models import tiny_model

# the libraries that write the graph bytes: torch and transformers are pinned in pyproject.toml, onnx and
# onnxscript are ranges there, so a newer release makes the golden hashes not apply (a skip naming it)
PINNED = {"torch": "2.13.0+cpu", "transformers": "5.23.0", "onnx": "1.23.2", "onnxscript": "0.7.2"}
CASES = {
    "beit-cls-static": ("beit", "image-classification", {}, False),
    "beit-backbone-shared-dynamic": ("beit", "backbone", {"shared_bias": True}, True),
    "vit-cls-dynamic": ("vit", "image-classification", {}, True),
    "beit-seg-static": ("beit", "semantic-segmentation", {}, False),
    "beit-mim-shared-static": ("beit", "masked-image-modeling", {"shared_bias": True}, False),
}
GOLDEN = {
    "beit-cls-static": "75cf325cc446e3e5d7d61de9c0b5d40e99e071cd141282c59e95ee245c1c4870",
    "beit-backbone-shared-dynamic": "bf0d2b5760bf5c634d29f1a8d0ef672c9f12cf825ee289bfb3c7868b82f38668",
    "vit-cls-dynamic": "dc45b9582596374796c79348a16b6d61be04217cd840867b8e24db75ae3f2e06",
    "beit-seg-static": "ef9317dbd8d58b8eb6b26f22489ea90f5257ce7211e11c79ee162deefb1d341f",
    "beit-mim-shared-static": "badb6cca38138c02c4eb1f28e750109f88b0a2867da487bafc9807bc77352682",
}


def _export(tmp_path, key: str, *, outputs: tuple[str, ...] = (), name: str = "model.onnx"):
    model_type, task, overrides, dynamic = CASES[key]
    model = tiny_model(model_type, task, **overrides)
    extra = resolve_extra_outputs(outputs, None, config=model.config, entry=registry_task(task))
    module = make_export_module(model, task=task, dynamic_resolution=dynamic, extra_outputs=extra)
    path = tmp_path / name
    export_onnx(module, task_spec=module.task_spec, path=path, dynamic_resolution=dynamic,
                example_inputs=example_inputs(task, batch=2, height=32, width=32))
    return path


def _sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _versions_differ() -> str | None:
    found = {name: importlib.metadata.version(name) for name in PINNED}
    differing = {name: version for name, version in found.items() if version != PINNED[name]}
    return f"golden hashes were recorded with {PINNED}, found {differing}" if differing else None


@pytest.mark.parametrize("key", list(CASES))
def test_default_graph_bytes_equal_the_pre_issue_18_graph(tmp_path, key):
    reason = _versions_differ()
    if reason:
        pytest.skip(reason)
    assert _sha256(_export(tmp_path, key)) == GOLDEN[key]


def test_export_is_deterministic_and_optional_outputs_only_add(tmp_path):
    first = _export(tmp_path, "beit-cls-static", name="a.onnx")
    second = _export(tmp_path, "beit-cls-static", name="b.onnx")
    assert first.read_bytes() == second.read_bytes()
    extended = onnx.load(str(_export(tmp_path, "beit-cls-static", outputs=("hidden_states",), name="c.onnx")))
    default = onnx.load(str(first))
    assert [o.name for o in default.graph.output] == ["logits"]
    assert [o.name for o in extended.graph.output] == ["logits", "hidden_states"]
    assert len(extended.graph.node) > len(default.graph.node)  # the stacking is in the extended graph only
