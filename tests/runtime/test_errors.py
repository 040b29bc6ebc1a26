"""Missing optional modules: one message naming the extra that installs them, quoted for every shell."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tomllib

from beit_runtime.errors import (
    OPTIONAL_MODULES,
    BackendUnavailableError,
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
