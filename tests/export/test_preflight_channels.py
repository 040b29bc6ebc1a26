"""A checkpoint whose images are not 3-channel (a grayscale fine-tune: num_channels 1, or a 1-value image_mean) is
refused before anything is exported, in one line that says what to do (exit 2), not by a traceback in parity."""

from __future__ import annotations

import json

import pytest

from beit_export.cli import main
from beit_export.errors import UnsupportedCheckpointError
from beit_export.pipeline import export_artifact
from tests.conftest import VIT_PROCESSOR_CONFIG, save_model_folder, tiny_checkpoint
from tests.tiny_models import tiny_model

EXPECTED = ("beit-deploy exports 3-channel (RGB) models only", "image processors, which make 3 channels",
            "repeat the patch embedding's weights over 3 input channels divided by 3", "set num_channels 3")


def _refused(argv, capsys, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("beit-export: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    for word in (*EXPECTED, *words):
        assert word in lines[0], lines[0]


def test_a_grayscale_folder_is_refused_before_the_export(tmp_path, capsys):
    folder = save_model_folder(tiny_model("vit", "image-classification", num_channels=1, num_hidden_layers=1),
                               tmp_path / "gray")
    (folder / "preprocessor_config.json").unlink()  # as the reviewer's vit_gray2: no processor config at all
    output = tmp_path / "out"
    _refused(["--model", str(folder), "--output", str(output), "--quiet"], capsys, "config.json has num_channels 1")
    assert not output.exists() and sorted(path.name for path in tmp_path.iterdir()) == ["gray"]


@pytest.mark.parametrize("field", ["image_mean", "image_std"])
def test_a_one_value_mean_or_std_gets_the_channel_message(tmp_path, capsys, field):
    processor = dict(VIT_PROCESSOR_CONFIG, **{field: [0.5]})
    folder = tmp_path / "gray"
    save_model_folder(tiny_model("vit", "image-classification", num_hidden_layers=1), folder,
                      processor_config=processor)
    assert json.loads((folder / "preprocessor_config.json").read_text())[field] == [0.5]
    _refused(["--model", str(folder), "--output", str(tmp_path / "out"), "--quiet"], capsys,
             f"preprocessor_config.json has {field} [0.5] (images of 1 channel(s))")


def test_an_in_memory_grayscale_model_is_refused_before_writing(tmp_path):
    checkpoint = tiny_checkpoint("vit", "image-classification", num_channels=1, num_hidden_layers=1)
    with pytest.raises(UnsupportedCheckpointError, match="num_channels 1"):
        export_artifact(checkpoint, output=tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
