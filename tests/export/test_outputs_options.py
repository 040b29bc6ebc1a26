"""``--outputs`` / ``--attention-layers``: parsing, validation, layer resolution, sizes and the size guard."""

from __future__ import annotations

import pytest

from beit_export.cli.export import build_parser, export_options
from beit_export.options import ExportOptions, ExportOptionsError
from beit_export.outputs import ExtraOutputs, parse_outputs, resolve_extra_outputs, resolve_layers
from beit_runtime.attention import check_fits, output_bytes
from beit_runtime.errors import OutputTooLargeError
from beit_runtime.tasks import TASKS
from beit_runtime.tasks import task as registry_task


def test_outputs_parse_in_canonical_order_and_unknown_names_are_refused():
    assert parse_outputs("attentions, hidden_states") == ("hidden_states", "attentions")
    assert parse_outputs(None) == () == parse_outputs("")
    with pytest.raises(ExportOptionsError, match="expected a comma-separated list of hidden_states, attentions"):
        parse_outputs("hidden_states,logits")


def test_export_options_validate_the_combination():
    options = ExportOptions(outputs="attentions", attention_layers="0,-1")
    assert options.outputs == ("attentions",) and options.attention_layers == (0, -1)
    assert "outputs" not in options.record()
    assert ExportOptions().record() == ExportOptions(outputs="attentions").record()
    with pytest.raises(ExportOptionsError, match="add --outputs attentions"):
        ExportOptions(outputs="hidden_states", attention_layers="last")
    with pytest.raises(ExportOptionsError, match="--fused-attention"):
        ExportOptions(outputs="attentions", fused_attention=True, fp16=True)
    with pytest.raises(ExportOptionsError, match="expected all, last, or comma-separated layer numbers"):
        ExportOptions(outputs="attentions", attention_layers="first")


def test_cli_arguments_reach_the_options():
    args = build_parser().parse_args(["--model", "m", "--outputs", "hidden_states,attentions",
                                      "--attention-layers", "last"])
    options = export_options(args)
    assert options.outputs == ("hidden_states", "attentions") and options.attention_layers == "last"
    assert "1.5 GB" in build_parser().format_help()  # the sizes are stated in --help


def test_layers_resolve_per_task_default_and_out_of_range_is_refused():
    classification, segmentation = registry_task("image-classification"), registry_task("semantic-segmentation")
    assert resolve_layers(None, num_layers=12, entry=classification) == tuple(range(12))
    assert resolve_layers(None, num_layers=12, entry=segmentation) == (11,)
    assert resolve_layers((-1, 0, 11), num_layers=12, entry=classification) == (0, 11)
    with pytest.raises(ExportOptionsError, match="the model has 12 layers"):
        resolve_layers((12,), num_layers=12, entry=classification)


def test_every_task_offers_both_outputs_with_tolerance_kinds():
    for entry in TASKS.values():
        assert [spec.name for spec in entry.optional_outputs] == ["hidden_states", "attentions"]
        assert entry.tolerance_kinds["attentions"] == "attention_weights"


def test_sizes_match_the_issue_and_the_guard_refuses_what_cannot_fit():
    per_image = output_bytes(["attentions"], tokens=1601, heads=12, hidden=768, num_layers=12, attention_layers=12)
    assert 1.4e9 < per_image < 1.6e9  # "about 1.5 GB per image" at 640
    extra = ExtraOutputs(names=("hidden_states", "attentions"), attention_layers=(11,), num_layers=12)
    assert extra.bytes_per_image(tokens=197, heads=12, hidden=768) == 4 * (13 * 197 * 768 + 12 * 197 * 197)
    check_fits(per_image, what="x", fix="y", available=4 * per_image)
    with pytest.raises(OutputTooLargeError, match=r"1,408 MiB, more than half of the 2,000 MiB.*--attention-layers"):
        check_fits(per_image, what="the attentions", fix="use --attention-layers last", available=2000 * 2**20)


def test_no_outputs_means_the_default_export():
    class Config:
        num_hidden_layers = 4

    assert resolve_extra_outputs((), "last", config=Config(), entry=registry_task("backbone")) is None
