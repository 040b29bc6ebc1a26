"""The task registry as the runtime reads it: each task's class, found from the registry alone."""

from __future__ import annotations

import pytest

import beit_runtime
from beit_runtime.errors import InputError
from beit_runtime.model_base import ArtifactModel, task_class, task_class_name
from beit_runtime.tasks import TASK_NAMES, TASKS


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_task_has_its_runtime_class(name):
    entry = TASKS[name]
    found = task_class(name)
    assert found is getattr(beit_runtime, entry.runtime_class) and found.__name__ == entry.runtime_class
    assert issubclass(found, ArtifactModel) and found.task == name  # the class accepts exactly this task
    assert task_class_name(name) == entry.runtime_class
    assert entry.runtime_class in beit_runtime.__all__


def test_the_task_classes_are_the_registry_s():
    assert beit_runtime.Segmenter  # imported on first use: now a subclass like the others
    found, pending = set(), list(ArtifactModel.__subclasses__())
    while pending:  # FeatureExtractor and Classifier derive from LayerOutputs (issue 18), an ArtifactModel itself
        cls = pending.pop()
        pending += cls.__subclasses__()
        in_package = cls.__module__.startswith("beit_runtime.")  # not a test's own subclass
        found |= {cls.__name__} if cls.task and in_package else set()  # task classes set the task they accept
    assert found == {entry.runtime_class for entry in TASKS.values()}


def test_unknown_tasks():
    with pytest.raises(InputError, match=r"unknown task 'depth'.*image-classification"):
        task_class("depth")
    assert task_class_name("depth") == "a matching task class"
