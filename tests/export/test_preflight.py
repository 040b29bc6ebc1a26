"""What an export refuses before it writes anything: options the artifact's task would never use, a preprocessing
recipe the runtime refuses or whose images a fixed-resolution graph cannot take, position embeddings transformers
cannot place."""

from __future__ import annotations

import pytest

from beit_export.errors import CheckpointConfigError, UnsupportedCheckpointError
from beit_export.options import ExportOptions, ExportOptionsError
from beit_export.pipeline import export_artifact
from beit_export.preflight import check_before_export
from tests.conftest import tiny_checkpoint


def test_uint8_input_copies_are_refused_for_segmentation_before_anything_is_written(tmp_path):
    checkpoint = tiny_checkpoint("beit", "semantic-segmentation")
    output = tmp_path / "segmentation"
    with pytest.raises(ExportOptionsError, match=r"--uint8-input .* semantic-segmentation .* drop --uint8-input"):
        export_artifact(checkpoint, output=output, options=ExportOptions(uint8_input=True))
    assert not output.exists() and [path.name for path in tmp_path.iterdir()] == []


def _refused_before_writing(checkpoint, tmp_path, error, pattern, **options):
    output = tmp_path / "artifact"
    with pytest.raises(error, match=pattern) as caught:
        export_artifact(checkpoint, output=output, options=ExportOptions(**options))
    assert "\n" not in str(caught.value)
    assert not output.exists() and list(tmp_path.iterdir()) == []


def test_no_resize_needs_a_dynamic_resolution_graph(tmp_path):
    no_resize = {"image_processor_type": "ViTImageProcessor", "do_resize": False, "size": {"height": 32, "width": 32}}
    checkpoint = tiny_checkpoint("vit", "image-classification", processor_config=no_resize, num_hidden_layers=1)
    _refused_before_writing(checkpoint, tmp_path, ExportOptionsError,
                            r"do_resize false and no centre crop, so images keep their own size, and a "
                            r"fixed-resolution graph takes 32x32 only: export with --dynamic-resolution, or set "
                            r"do_resize to true in preprocessor_config\.json")
    # images at their own size are what a dynamic-resolution graph takes; a centre crop fixes the size again
    assert check_before_export(checkpoint, output=tmp_path / "a", options=ExportOptions(dynamic_resolution=True))
    cropped = dict(no_resize, do_center_crop=True, crop_size={"height": 32, "width": 32})
    checkpoint = tiny_checkpoint("vit", "image-classification", processor_config=cropped, num_hidden_layers=1)
    assert check_before_export(checkpoint, output=tmp_path / "b", options=ExportOptions())


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("image_std", [0.5, 0.0, 0.5], r"'image_std' must be non-zero"),
    ("rescale_factor", -1 / 255, r"'rescale_factor' must be a finite number > 0"),
])
def test_a_recipe_the_runtime_refuses_is_refused_before_the_export(tmp_path, field, value, expected):
    checkpoint = tiny_checkpoint("vit", "image-classification", num_hidden_layers=1)
    checkpoint.preprocessing[field] = value  # an in-memory recipe: no preprocessor_config.json checked it
    _refused_before_writing(checkpoint, tmp_path, CheckpointConfigError,
                            rf"^the checkpoint's preprocessing recipe \(preprocessor_config\.json\): {expected}")


def test_non_square_position_grids_transformers_cannot_interpolate_are_refused(tmp_path):
    processor = {"image_processor_type": "BeitImageProcessor", "size": {"height": 32, "width": 64}}
    beit = tiny_checkpoint("beit", "image-classification", processor_config=processor, image_size=[32, 64],
                           absolute_positions=True, use_relative_position_bias=False, num_hidden_layers=1,
                           out_indices=[1])
    _refused_before_writing(beit, tmp_path, UnsupportedCheckpointError,
                            r"image_size 32x64 makes a 4x8 patch grid, and transformers' BEiT interpolates absolute "
                            r"position embeddings as a square grid .* use a square image_size")
    vit = tiny_checkpoint("vit", "image-classification", processor_config=processor, image_size=[32, 64],
                          num_hidden_layers=1)
    _refused_before_writing(vit, tmp_path, ExportOptionsError,
                            r"--dynamic-resolution interpolates the position embeddings as a square grid, .* 4x8 one: "
                            r"export without --dynamic-resolution \(the graph then takes 32x64 images\)",
                            dynamic_resolution=True)
    deit = tiny_checkpoint("deit", "image-classification", processor_config=processor, image_size=[32, 64],
                           num_hidden_layers=1)  # transformers' DeiT reshapes its table to a square grid as well
    _refused_before_writing(deit, tmp_path, ExportOptionsError,
                            r"--dynamic-resolution interpolates .* config\.json's image_size 32x64 makes a 4x8 one: "
                            r"export without --dynamic-resolution \(the graph then takes 32x64 images\)",
                            dynamic_resolution=True)


def test_a_processor_size_that_disagrees_with_config_json_is_a_usage_error(tmp_path):
    from beit_export.cli import exit_code

    processor = {"image_processor_type": "ViTImageProcessor", "size": {"height": 48, "width": 48}}
    checkpoint = tiny_checkpoint("vit", "image-classification", processor_config=processor, num_hidden_layers=1)
    with pytest.raises(CheckpointConfigError, match=r"produces \{'height': 48, 'width': 48\} images but config\.json's "
                                                    r"image_size makes a fixed-resolution graph take 32x32") as caught:
        check_before_export(checkpoint, output=tmp_path / "out", options=ExportOptions())
    assert exit_code(caught.value) == 2
