"""The exporter reads its tasks from the registry: every transformers class maps back to its task."""

from __future__ import annotations

import pytest
import transformers

from beit_export.checkpoint.loading import SUPPORTED_ARCHITECTURES, _architecture, _labels
from beit_export.cli.export import build_parser
from beit_export.errors import UnsupportedCheckpointError
from beit_export.tasks import BACKBONE, TASKS
from beit_runtime.tasks import TASK_NAMES, hf_class_names, task_for_hf_class


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_hf_class_maps_back_to_its_task(name):
    entry = TASKS[name]
    assert entry.hf_classes, name
    for model_type, class_name in entry.hf_classes.items():
        assert hasattr(transformers, class_name), class_name
        assert SUPPORTED_ARCHITECTURES[class_name] == name and task_for_hf_class(class_name) is entry
        config = transformers.AutoConfig.for_model(model_type)
        assert _architecture(config, name) == class_name  # a config without "architectures": from the task


def test_supported_architectures_are_the_registry_s():
    assert sorted(SUPPORTED_ARCHITECTURES) == hf_class_names()
    with pytest.raises(UnsupportedCheckpointError, match=r"no vit architecture for task 'semantic-segmentation'.*"
                                                         r"\['backbone', 'image-classification'\]"):
        _architecture(transformers.AutoConfig.for_model("vit"), "semantic-segmentation")
    assert _architecture(transformers.AutoConfig.for_model("vit"), None) == BACKBONE.hf_classes["vit"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_labels_are_kept_for_labelled_tasks(name):
    config = transformers.AutoConfig.for_model("beit", id2label={0: "cat", 1: "dog"})
    expected = {"0": "cat", "1": "dog"} if TASKS[name].labelled else None
    assert _labels(config, name) == expected


def test_task_choices_are_the_registry_s():
    task_action = next(action for action in build_parser()._actions if action.dest == "task")
    assert tuple(task_action.choices) == TASK_NAMES
