"""A --model folder's config.json / preprocessor_config.json with values no model can be built from, and weights
saved with another config: a CheckpointConfigError (a ModelLoadError) naming the file, the field and what is
expected, before transformers fails deep inside."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from beit_export.checkpoint import load_checkpoint
from beit_export.errors import CheckpointConfigError, ModelLoadError
from tests.conftest import save_model_folder
from tests.tiny_models import tiny_model


@pytest.fixture(scope="module")
def beit_folder(tmp_path_factory) -> Path:
    return save_model_folder(tiny_model("beit", "image-classification"), tmp_path_factory.mktemp("m") / "beit")


def _copy_with(source: Path, target: Path, **files) -> Path:
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    for name, content in files.items():
        (target / f"{name}.json").write_text(json.dumps(content))
    return target


def _config(folder: Path, **changes) -> dict:
    return dict(json.loads((folder / "config.json").read_text()), **changes)


@pytest.mark.parametrize(("changes", "expected"), [
    ({"hidden_size": "64"}, r"hidden_size.*expected int"),
    ({"patch_size": 0}, r"patch_size is 0; expected a positive integer"),
    ({"num_channels": 0}, r"num_channels is 0"),
    ({"image_size": 15}, r"image_size is 15; expected a positive multiple of patch_size 8"),
    ({"image_size": 0}, r"image_size is 0"),
    ({"image_size": [32, 20]}, r"image_size is \[32, 20\]"),
    ({"num_attention_heads": 3}, r"hidden_size 32 is not a multiple of num_attention_heads 3"),
    ({"id2label": [1]}, r"not a valid beit config"),
])
@pytest.mark.parametrize("random_init", [False, True])
def test_bad_config_values(tmp_path, beit_folder, changes, expected, random_init):
    folder = _copy_with(beit_folder, tmp_path / "m", config=_config(beit_folder, **changes))
    with pytest.raises(CheckpointConfigError, match=expected) as caught:
        load_checkpoint(str(folder), random_init=random_init)
    assert str(folder / "config.json") in str(caught.value)


@pytest.mark.parametrize("content", [[1, 2], None, "beit"])
def test_config_json_that_is_not_an_object(tmp_path, beit_folder, content):
    folder = _copy_with(beit_folder, tmp_path / "m", config=content)
    with pytest.raises(CheckpointConfigError, match=r"config\.json holds a JSON \w+; expected a JSON object"):
        load_checkpoint(str(folder))


def test_preprocessor_config_that_is_not_an_object(tmp_path, beit_folder):
    folder = _copy_with(beit_folder, tmp_path / "m", preprocessor_config=[])
    with pytest.raises(CheckpointConfigError, match=r"preprocessor_config\.json holds a JSON list"):
        load_checkpoint(str(folder))


def test_weights_saved_with_another_config(tmp_path, beit_folder):
    folder = _copy_with(beit_folder, tmp_path / "m", config=_config(beit_folder, intermediate_size=48))
    with pytest.raises(ModelLoadError) as caught:
        load_checkpoint(str(folder))
    message = str(caught.value)
    assert "do not belong with its config.json" in message and "corrupt" not in message
    shapes = r"mlp\.fc[12]\.\w+: \((64, 32|32, 64|64,)\) in the weights vs \((48, 32|32, 48|48,)\) from config"
    assert re.search(shapes, message), message


def test_an_artifact_given_as_the_model_is_named_as_an_artifact(beit_classifier_artifact):
    with pytest.raises(ModelLoadError, match=r"is a beit-deploy artifact .* not a checkpoint: --model takes"):
        load_checkpoint(str(beit_classifier_artifact))


@pytest.mark.parametrize(("id2label", "found", "expected"), [
    ({"0": "cat", "5": "dog"}, r"\[0, 5\]", r"0\.\.1, one per logit of the 2-logit head"),
    ({"1": "cat", "2": "dog", "3": "bird"}, r"\[1, 2, 3\]", r"0\.\.2, one per logit of the 3-logit head"),
])
def test_label_ids_must_number_the_logits(tmp_path, beit_folder, id2label, found, expected):
    label2id = {name: int(index) for index, name in id2label.items()}
    config = _config(beit_folder, id2label=id2label, label2id=label2id)
    folder = _copy_with(beit_folder, tmp_path / "m", config=config)
    pattern = rf"id2label has ids {found}; expected exactly {expected}"
    with pytest.raises(CheckpointConfigError, match=pattern) as caught:
        load_checkpoint(str(folder), random_init=True)
    message = str(caught.value)
    assert message.startswith(f"{folder / 'config.json'}: ") and "renumber id2label" in message
    # a backbone has no labels to number
    assert load_checkpoint(str(folder), random_init=True, task="backbone").labels is None


def test_masked_image_modeling_without_the_mask_token_is_refused_before_export(tmp_path):
    from beit_export.checkpoint import checkpoint_from_model

    model = tiny_model("beit", "masked-image-modeling", use_mask_token=False)
    folder = save_model_folder(model, tmp_path / "mim")
    expected = (r'config\.json: use_mask_token is false, and BeitForMaskedImageModeling needs the mask token .*'
                r'set "use_mask_token": true in config\.json')
    with pytest.raises(CheckpointConfigError, match=expected):
        load_checkpoint(str(folder))
    with pytest.raises(CheckpointConfigError, match="use_mask_token is false"):
        checkpoint_from_model(model)
    assert load_checkpoint(str(folder), task="backbone").task == "backbone"  # the encoder needs no mask token
