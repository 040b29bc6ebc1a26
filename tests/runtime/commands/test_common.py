"""How the ``beit-run`` subcommands end: typed errors as exit 2 or 1, Ctrl-C as exit 130 with what was kept."""

from __future__ import annotations

from beit_runtime.commands.common import EXIT_INTERRUPTED, run_reporting_errors
from beit_runtime.errors import DatasetError, ManifestError


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
