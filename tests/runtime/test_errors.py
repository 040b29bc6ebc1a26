"""Missing optional modules: one message naming the extra that installs them, quoted for every shell; every
image error is an InputError (the caller's input)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import tomllib

from beit_runtime import Classifier
from beit_runtime.errors import (
    OPTIONAL_MODULES,
    BackendUnavailableError,
    ImageDecodeError,
    ImageError,
    ImageFormatError,
    ImageTooLargeError,
    InputError,
    missing_extra,
    missing_module_message,
    pip_install,
)
from beit_runtime.exit_codes import EXIT_DEPENDENCY, EXIT_ERROR, failure_exit

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _distribution(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_each_optional_module_is_in_the_extra_pyproject_lists_it_in():
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    listed = {extra: {_distribution(r) for r in requirements}
              for extra, requirements in project["optional-dependencies"].items()}
    listed[None] = {_distribution(r) for r in project["dependencies"]}
    for module, (distribution, extra) in OPTIONAL_MODULES.items():
        assert distribution.lower().replace("_", "-") in listed[extra], (module, distribution, extra)


def test_the_install_command_is_quoted_so_that_zsh_keeps_the_brackets():
    assert pip_install("openvino") == 'pip install "beit-deploy[openvino]"'
    assert pip_install() == "pip install beit-deploy"
    assert missing_extra("openvino", "openvino", needed_by="the OpenVINO backend") == (
        'the OpenVINO backend needs openvino, which is not installed; install it with '
        '`pip install "beit-deploy[openvino]"`')


@pytest.mark.parametrize(("error", "message"), [
    (ModuleNotFoundError("No module named 'torch'", name="torch"),
     'torch is not installed; install it with `pip install "beit-deploy[export]"`'),
    (ModuleNotFoundError("No module named 'yaml'", name="yaml"),
     'yaml is not installed; install it with `pip install "beit-deploy[export]"`'),
    # a module inside an installed package, or one beit-deploy does not know: a broken install, told as it is
    (ModuleNotFoundError("No module named 'torch._C'", name="torch._C"), "No module named 'torch._C'"),
    (ModuleNotFoundError("No module named 'numpyx'", name="numpyx"), "No module named 'numpyx'"),
    (ImportError("cannot import name 'x' from 'torch'", name="torch"), "cannot import name 'x' from 'torch'"),
])
def test_a_missing_optional_module_names_its_extra(error, message):
    assert missing_module_message(error) == message


def test_a_missing_dependency_exits_5_and_other_failures_1():
    assert failure_exit(BackendUnavailableError("x")) == failure_exit(ModuleNotFoundError("x")) == EXIT_DEPENDENCY == 5
    assert failure_exit(RuntimeError("x")) == EXIT_ERROR == 1


def test_every_image_error_is_an_input_error():
    """A web handler's ``except InputError: return 400`` also rejects a corrupt or empty upload."""
    for kind in (ImageError, ImageDecodeError, ImageFormatError, ImageTooLargeError):
        assert issubclass(kind, InputError) and issubclass(kind, ValueError), kind


@pytest.mark.parametrize("upload", [b"", b"not an image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40])
def test_except_input_error_catches_a_corrupt_image_given_to_a_task_class(beit_classifier_artifact, upload):
    with Classifier(beit_classifier_artifact) as classifier:
        try:
            classifier(upload)
        except InputError as error:  # what a service answers with 400
            assert isinstance(error, ImageDecodeError), error
        else:
            pytest.fail("a corrupt image was classified")
        with pytest.raises(InputError, match=r"image at index 1 \(of 2\)"):
            classifier([np.zeros((32, 32, 3), np.uint8), upload])
