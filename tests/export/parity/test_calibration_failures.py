"""Bad calibration input: dangling links in --calibration-data are skipped (not a FileNotFoundError), and an int8
graph that fails parity after calibration on one black image advises representative calibration images and
names the final artifact path, not the deleted staging folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from beit_export.cli import main
from beit_export.parity.user_images import read_user_images
from beit_runtime.errors import DatasetError
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model


@pytest.fixture
def black_folder(tmp_path) -> Path:
    """One black 32x32 image and a dangling symbolic link that looks like an image."""
    folder = tmp_path / "calibration"
    folder.mkdir()
    Image.new("RGB", (32, 32)).save(folder / "black.png")
    (folder / "gone.jpg").symlink_to(tmp_path / "deleted.jpg")
    return folder


def test_dangling_links_are_skipped(black_folder):
    images = read_user_images(black_folder, size=8, purpose="calibration")
    assert len(images) == 1 and images.record["images"] == 1
    assert len(images.record["file_list_sha256"]) == 64


def test_a_folder_of_dangling_links_is_a_dataset_error(black_folder):
    (black_folder / "black.png").unlink()
    with pytest.raises(DatasetError, match="no readable image"):
        read_user_images(black_folder, size=8, purpose="calibration")


def test_int8_calibrated_on_one_black_image_advises_calibration_data(capsys, tmp_path, black_folder):
    model = save_model_folder(tiny_model("vit", "image-classification"), tmp_path / "vit")
    output = tmp_path / "out"
    capsys.readouterr()
    code = main(["--model", str(model), "--output", str(output), "--int8", "--calibration-data", str(black_folder),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert f"parity FAILED for {output / 'model.int8.onnx'}" in err and ".partial-" not in err
    assert "calibrated on 1 image(s) of --calibration-data" in err and "--calibration-size" in err
    assert "transformers version" not in err
    assert not output.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["calibration", "vit"]
