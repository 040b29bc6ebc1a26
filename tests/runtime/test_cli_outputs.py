"""beit-run on image files: every output path is checked before any inference (no write over an input, no two
inputs sharing an output, folders that can be written), and the options that would be ignored are refused."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from beit_runtime.cli import main


def _photo(path: Path, crop: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), skimage.data.chelsea()[crop : crop + 64, :64, ::-1])
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_an_output_folder_holding_the_input_is_refused_and_the_photo_kept(beit_segmentation_artifact, tmp_path,
                                                                          capsys):
    photo = _photo(tmp_path / "photo.png")
    before = _tree(tmp_path)
    assert main([str(beit_segmentation_artifact), str(photo), "--output", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert f"--output {tmp_path}" in captured.err and "never writes over its inputs" in captured.err
    assert captured.out == "" and _tree(tmp_path) == before


@pytest.mark.parametrize("names", [("a/x.png", "b/x.png"), ("x.jpg", "x.png")])
def test_two_inputs_writing_one_output_are_refused_before_running(beit_backbone_artifact, tmp_path, capsys, names):
    first, second = (_photo(tmp_path / "in" / name, crop) for name, crop in zip(names, (0, 50), strict=True))
    out = tmp_path / "out"
    assert main([str(beit_backbone_artifact), str(first), str(second), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(first) in err and str(second) in err and str(out / "x.npy") in err and "separate --output" in err
    assert not out.exists()


def test_the_same_image_twice_is_fine_and_no_temporary_is_left(beit_backbone_artifact, tmp_path, capsys):
    photo = _photo(tmp_path / "x.png")
    out = tmp_path / "out"
    assert main([str(beit_backbone_artifact), str(photo), str(photo), "--output", str(out)]) == 0
    assert sorted(os.listdir(out)) == ["x.npy"] and capsys.readouterr().out.count(f"saved {out / 'x.npy'}") == 2
    assert np.load(out / "x.npy").shape == (32,)


def test_attention_pictures_of_two_images_with_one_name_are_refused(beit_layer_outputs_artifact, tmp_path, capsys):
    first, second = _photo(tmp_path / "a/x.png"), _photo(tmp_path / "b/x.jpg")
    maps = tmp_path / "maps"
    assert main([str(beit_layer_outputs_artifact), str(first), str(second), "--attention-maps", str(maps)]) == 2
    err = capsys.readouterr().err
    assert "--attention-maps" in err and str(first) in err and str(second) in err and not maps.exists()


def test_attention_pictures_over_an_input_are_refused(beit_layer_outputs_artifact, tmp_path, capsys):
    photo, head = _photo(tmp_path / "x.png"), _photo(tmp_path / "x.head1.png")
    before = _tree(tmp_path)
    assert main([str(beit_layer_outputs_artifact), str(photo), str(head), "--attention-maps", str(tmp_path)]) == 2
    assert "never writes over its inputs" in capsys.readouterr().err and _tree(tmp_path) == before


@pytest.mark.parametrize("option", ["--output", "--attention-maps"])
def test_output_folders_that_are_files_are_usage_errors(beit_layer_outputs_artifact, beit_backbone_artifact,
                                                         tmp_path, capsys, option):
    artifact = beit_backbone_artifact if option == "--output" else beit_layer_outputs_artifact
    afile = tmp_path / "afile"
    afile.write_text("keep me\n", encoding="utf-8")
    assert main([str(artifact), str(_photo(tmp_path / "x.png")), option, str(afile)]) == 2
    captured = capsys.readouterr()
    assert f"{option} {afile} is a file, not a folder" in captured.err and captured.out == ""
    assert afile.read_text(encoding="utf-8") == "keep me\n"


def test_an_output_folder_that_cannot_be_created_is_a_usage_error(beit_backbone_artifact, tmp_path, capsys):
    assert main([str(beit_backbone_artifact), str(_photo(tmp_path / "x.png")), "--output", "/proc/beit-x"]) == 2
    assert "--output /proc/beit-x cannot be created" in capsys.readouterr().err


def test_an_attention_layer_out_of_range_fails_before_any_prediction(beit_layer_outputs_artifact, tmp_path, capsys):
    photo, maps = _photo(tmp_path / "x.png"), tmp_path / "maps"
    for layer, message in (("99", "the model has 4"), ("0", "holds the attentions of layers [1, 3]")):
        assert main([str(beit_layer_outputs_artifact), str(photo), "--attention-maps", str(maps),
                     "--attention-layer", layer]) == 2
        captured = capsys.readouterr()
        assert f"--attention-layer {layer}" in captured.err and message in captured.err and captured.out == ""
    assert not maps.exists()


@pytest.mark.parametrize(("task", "message"), [
    ("segmentation", "Segmenter has no attention maps; --attention-maps needs a backbone or image-classification"),
    ("classifier", "exported without the 'attentions' output; re-export it with `beit-export --model ... --outputs"),
])
def test_attention_maps_an_artifact_cannot_draw_fail_before_any_prediction(
        beit_segmentation_artifact, beit_classifier_artifact, tmp_path, capsys, task, message):
    artifact = beit_segmentation_artifact if task == "segmentation" else beit_classifier_artifact
    maps = tmp_path / "maps"
    assert main([str(artifact), str(_photo(tmp_path / "x.png")), "--attention-maps", str(maps)]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == "" and not maps.exists()


@pytest.mark.parametrize(("task", "extra", "message"), [
    ("classifier", [], "--output saves embeddings (backbone artifacts) or overlays"),
    ("backbone", ["--side-by-side"], "--side-by-side draws segmentation overlays"),
])
def test_outputs_a_task_does_not_write_are_refused(beit_classifier_artifact, beit_backbone_artifact, tmp_path,
                                                   capsys, task, extra, message):
    artifact = beit_classifier_artifact if task == "classifier" else beit_backbone_artifact
    out = tmp_path / "out"
    assert main([str(artifact), str(_photo(tmp_path / "x.png")), "--output", str(out), *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == "" and not out.exists()


def test_a_file_already_in_the_output_folder_is_kept_unless_overwrite_is_given(beit_segmentation_artifact,
                                                                               tmp_path, capsys):
    photo = _photo(tmp_path / "in" / "a.jpg")
    out = tmp_path / "out"
    mine = _photo(out / "a.png", crop=50)  # the user's own picture, named as a.jpg's overlay would be
    before = _tree(out)
    argv = [str(beit_segmentation_artifact), str(photo), "--output", str(out)]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert f"--output {out} already holds a.png, the output of {photo}" in captured.err
    assert "pass --overwrite to replace it" in captured.err and captured.out == "" and _tree(out) == before
    assert main([*argv, "--overwrite"]) == 0
    assert _tree(out)["a.png"] != before["a.png"] and mine.is_file()


def test_attention_pictures_of_an_earlier_run_are_kept_unless_overwrite_is_given(beit_layer_outputs_artifact,
                                                                                 tmp_path, capsys):
    photo = _photo(tmp_path / "in" / "cat.png")
    argv = [str(beit_layer_outputs_artifact), str(photo), "--attention-maps", str(tmp_path / "maps")]
    assert main(argv) == 0
    drawn = _tree(tmp_path / "maps")
    assert "cat.head0.png" in drawn
    capsys.readouterr()
    assert main(argv) == 2
    assert f"--attention-maps {tmp_path / 'maps'} already holds cat.head0.png" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0 and sorted(_tree(tmp_path / "maps")) == sorted(drawn)


def test_overwrite_in_a_folder_run_is_a_usage_error(beit_classifier_artifact, tmp_path, capsys):
    _photo(tmp_path / "in" / "a.png")
    assert main([str(beit_classifier_artifact), str(tmp_path / "in"), "--output", str(tmp_path / "o"),
                 "--overwrite"]) == 2
    assert "--overwrite applies to image files named alone" in capsys.readouterr().err
