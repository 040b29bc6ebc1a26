"""What the ``beit-run`` subcommands share: typed errors as exit 2, 5 (a missing optional dependency) or 1,
Ctrl-C as exit 130 with what was kept, and a served model's address refused as the artifact, with the way to
measure it."""

from __future__ import annotations

import pytest

from beit_runtime.cli import main
from beit_runtime.commands.common import run_reporting_errors
from beit_runtime.errors import (
    BackendUnavailableError,
    DatasetError,
    ImageDecodeError,
    ImageFormatError,
    InputError,
    ManifestError,
    missing_extra,
)
from beit_runtime.exit_codes import EXIT_DEPENDENCY, EXIT_INTERRUPTED


def _raise(error: BaseException):
    def work():
        raise error

    return work


def test_ctrl_c_is_exit_130_with_what_was_kept_and_no_traceback(capsys):
    assert run_reporting_errors("beit-run tune", _raise(KeyboardInterrupt()), interrupted="no plan was written") == (
        None, EXIT_INTERRUPTED)
    assert capsys.readouterr().err == "\nbeit-run tune: interrupted; no plan was written\n"
    assert EXIT_INTERRUPTED == 130


def test_bad_data_is_exit_2_and_other_errors_exit_1(capsys):
    assert run_reporting_errors("p", _raise(DatasetError("no images"))) == (None, 2)
    assert run_reporting_errors("p", _raise(ManifestError("gone"))) == (None, 1)
    assert capsys.readouterr().err == "p: error: no images\np: error: gone\n"
    assert run_reporting_errors("p", lambda: 7) == (7, 0)


def test_a_missing_optional_dependency_is_exit_5_as_for_beit_run(capsys):
    needed = missing_extra("openvino", "openvino", needed_by="backend openvino")
    assert run_reporting_errors("beit-run evaluate", _raise(BackendUnavailableError(needed))) == (
        None, EXIT_DEPENDENCY)
    assert capsys.readouterr().err == f"beit-run evaluate: error: {needed}\n"
    assert EXIT_DEPENDENCY == 5


@pytest.mark.parametrize(("command", "fix"), [
    (["evaluate", "http://127.0.0.1:8000/cls", "--data", "labelled"], "beit-run evaluate ARTIFACT --data DIR"),
    (["tune", "grpc://127.0.0.1:8001/cls"], "--precision auto --plan plan.json"),
])
def test_a_served_model_given_to_evaluate_or_tune_is_a_usage_error_naming_the_way(command, fix, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(command)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and f"{command[1]} is a served model" in err and fix in err
    assert "does not exist" not in err and "http:/1" not in err  # not read as a folder named http:/...


def test_an_image_the_work_failed_on_is_exit_1_though_an_input_error(capsys):
    """An ImageError is an InputError (a service's 400), but an evaluation that fails on one image is not a usage
    error: exit 1, as before ImageError became an InputError; bad options stay exit 2."""
    assert run_reporting_errors("p", _raise(ImageFormatError("image 1x1 is too small"))) == (None, 1)
    assert run_reporting_errors("p", _raise(ImageDecodeError("corrupt"))) == (None, 1)
    assert run_reporting_errors("p", _raise(InputError("--batch-size 0"))) == (None, 2)
    assert capsys.readouterr().err == "p: error: image 1x1 is too small\np: error: corrupt\np: error: --batch-size 0\n"
