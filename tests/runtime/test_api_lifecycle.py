"""A task class inside a service: forked workers, pickling, a bad upload among many, iterators, calls after
close(), and load_engine given a folder."""

from __future__ import annotations

import multiprocessing
import pickle

import numpy as np
import pytest

from beit_runtime import Classifier
from beit_runtime.engines import load_engine
from beit_runtime.errors import ArtifactError, ImageFormatError, InputError, ModelClosedError

IMAGE = np.full((24, 20, 3), 90, dtype=np.uint8)


def _classify_in_child(classifier, queue):
    queue.put([[p.label for p in predictions] for predictions in classifier([IMAGE, IMAGE], top_k=2)])


def test_a_forked_worker_runs_lists_after_the_parent_did(beit_classifier_artifact):
    """gunicorn --preload with a warm-up call: the child inherited the parent's decoding pool without its
    threads and waited forever on its first list."""
    with Classifier(beit_classifier_artifact) as classifier:
        expected = [[p.label for p in predictions] for predictions in classifier([IMAGE, IMAGE, IMAGE], top_k=2)]
        context = multiprocessing.get_context("fork")
        queue = context.Queue()
        child = context.Process(target=_classify_in_child, args=(classifier, queue))
        child.start()
        child.join(60)
        alive = child.is_alive()
        child.kill()
        assert not alive and child.exitcode == 0
        assert queue.get(timeout=5) == expected[:2]


def test_pickling_says_to_load_in_each_worker(beit_classifier_artifact):
    with Classifier(beit_classifier_artifact) as classifier, \
            pytest.raises(TypeError, match=r"cannot be pickled: create it in each worker process from its artifact"):
        pickle.dumps(classifier)


def test_a_bad_image_among_many_is_named_by_its_index(beit_classifier_artifact):
    images = [IMAGE] * 5 + [IMAGE.astype(np.float32) / 255] + [IMAGE]
    with Classifier(beit_classifier_artifact) as classifier:
        with pytest.raises(ImageFormatError, match=r"^image at index 5 \(of 7\): float image arrays") as caught:
            classifier(images)
        assert caught.value.index == 5
        with pytest.raises(ImageFormatError) as alone:
            classifier(images[5])
        assert alone.value.index is None and not str(alone.value).startswith("image at index")


def test_iterators_are_lists_of_images(beit_classifier_artifact, tmp_path):
    from PIL import Image

    for index in range(3):
        Image.fromarray(np.roll(IMAGE, index * 7, axis=1)).save(tmp_path / f"{index}.png")
    with Classifier(beit_classifier_artifact) as classifier:
        as_list = classifier(sorted(tmp_path.glob("*.png")), top_k=1)
        assert classifier(iter(sorted(tmp_path.glob("*.png"))), top_k=1) == as_list
        assert classifier((path for path in sorted(tmp_path.glob("*.png"))), top_k=1) == as_list


def test_a_closed_model_says_so_and_is_not_an_input_error(beit_classifier_artifact):
    classifier = Classifier(beit_classifier_artifact)
    classifier.close()
    classifier.close()  # twice is fine
    for call in (lambda: classifier(IMAGE), lambda: classifier.run({"pixel_values": np.zeros((1, 3, 32, 32))})):
        with pytest.raises(ModelClosedError, match="is closed: create a new one") as caught:
            call()
        assert not isinstance(caught.value, (InputError, ValueError))


def test_load_engine_on_an_artifact_folder_names_the_task_classes(beit_classifier_artifact):
    with pytest.raises(ArtifactError, match=r"is a folder: load_engine takes one graph file .*Classifier"):
        load_engine(beit_classifier_artifact)
