"""The export pipeline with ``--outputs hidden_states,attentions`` (issue 18): every graph variant carries
the outputs, each is parity-checked with its stated tolerance kind, and the manifest records what was exported."""

from __future__ import annotations

from beit_export.options import ExportOptions
from beit_export.pipeline import export_artifact
from beit_runtime.manifest import load_manifest
from tests.conftest import tiny_checkpoint

BOTH = ("hidden_states", "attentions")


def test_fp32_fp16_int8_graphs_carry_and_check_the_outputs(tmp_path):
    options = ExportOptions(outputs=BOTH, fp16=True, int8=True, dynamic_resolution=True, photos=False)
    folder = export_artifact(tiny_checkpoint("beit", "image-classification"), output=tmp_path / "a", options=options)
    manifest = load_manifest(folder)
    assert dict(manifest.export.extra_outputs) == {"outputs": BOTH, "num_layers": 4, "attention_layers": (0, 1, 2, 3)}
    for variant in ("fp32", "fp16", "int8"):
        graph = manifest.graphs[variant]
        assert graph.output_names == ("logits", *BOTH)
        assert graph.outputs[2].shape == ("batch", 4, 2, "sequence", "sequence")
        record = manifest.parity[variant]
        assert record.passed and set(record.outputs) == {"logits", *BOTH}
        assert record.tolerances["attentions"]["kind"] == "attention_weights"
        assert record.tolerances["hidden_states"]["kind"] == "hidden_states"
        assert len(record.cases) == 4  # two at 32x32, two interpolated (dynamic resolution)
    assert manifest.parity["fp32"].outputs["attentions"]["max_abs"] < 1e-5


def test_segmentation_keeps_the_last_layers_attentions_by_default(tmp_path):
    options = ExportOptions(outputs="attentions", photos=False)
    folder = export_artifact(tiny_checkpoint("beit", "semantic-segmentation"), output=tmp_path / "s", options=options)
    manifest = load_manifest(folder)
    assert manifest.export.extra_outputs["attention_layers"] == (3,)
    assert manifest.graphs["fp32"].output_names == ("logits", "attentions")
    assert manifest.parity["fp32"].passed and manifest.parity["postprocess"].passed


def test_a_default_export_records_no_extra_outputs(beit_classifier_artifact):
    manifest = load_manifest(beit_classifier_artifact)
    assert manifest.export.extra_outputs is None
    assert manifest.graphs["fp32"].output_names == ("logits",)
