"""``ExportOptions`` refuses choices that would change nothing: an --int8-mode without --int8."""

from __future__ import annotations

import pytest

from beit_export.cli import main
from beit_export.options import ExportOptions, ExportOptionsError


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_an_int8_mode_without_int8_is_refused(mode):
    with pytest.raises(ExportOptionsError, match=rf"--int8-mode {mode} chooses how the int8 graph is made, and "
                                                 r"without --int8 none is written: add --int8, or drop --int8-mode"):
        ExportOptions(int8_mode=mode)


def test_int8_is_static_unless_a_mode_is_given():
    assert ExportOptions(int8=True).int8_mode == "static" and ExportOptions(int8=True).record()["int8_mode"] == "static"
    assert ExportOptions(int8=True, int8_mode="dynamic").record()["int8_mode"] == "dynamic"
    assert ExportOptions().int8_mode is None and "int8_mode" not in ExportOptions().record()
    with pytest.raises(ExportOptionsError, match="must be one of"):
        ExportOptions(int8=True, int8_mode="weights")


def test_the_command_line_refuses_int8_mode_without_int8_before_loading(tmp_path, capsys):
    output = tmp_path / "dyn"
    assert main(["--model", str(tmp_path / "no-such-model"), "--output", str(output), "--int8-mode", "dynamic"]) == 2
    err = capsys.readouterr().err
    assert "beit-export: error: --int8-mode dynamic chooses how the int8 graph is made" in err, err
    assert not output.exists()
