"""The command lines' argparse types: values in range pass through, the rest are usage errors naming the range."""

from __future__ import annotations

import argparse

import pytest

from beit_runtime.argument_types import (
    fixed_port_number,
    non_negative_integer,
    non_negative_number,
    port_number,
    positive_integer,
    positive_number,
)


@pytest.mark.parametrize(("kind", "good", "bad", "message"), [
    (positive_integer, {"1": 1, "32": 32}, ["0", "-3", "1.5", "eight"], "expected an integer >= 1"),
    (non_negative_integer, {"0": 0, "7": 7}, ["-1", "x"], "expected an integer >= 0"),
    (positive_number, {"0.5": 0.5, "30": 30.0}, ["0", "-1", "nan", "inf", "-inf", "soon"],
     "expected a finite number above 0"),
    (non_negative_number, {"0": 0.0, "1.5": 1.5}, ["-0.1", "nan", "inf", "x"], "expected a finite number >= 0"),
    (port_number, {"0": 0, "65535": 65535}, ["-1", "65536", "http"],
     "expected a port number 0-65535 (0: any free port)"),
    (fixed_port_number, {"1": 1, "9090": 9090}, ["0", "70000"], "expected a port number 1-65535"),
])
def test_values_in_range_pass_and_the_rest_name_the_range(kind, good, bad, message):
    for text, value in good.items():
        assert kind(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError) as refused:
            kind(text)
        assert str(refused.value) == f"{message}, got {text!r}"


@pytest.mark.parametrize("command", [["art", "x.png", "--output", ""], ["art", ""], ["evaluate", "art", "--data", ""],
                                     ["tune", "art", "--plan", " "]])
def test_an_empty_path_is_a_usage_error_not_the_current_folder(command, capsys, tmp_path):
    from beit_runtime.cli import main

    with pytest.raises(SystemExit) as exited:  # "art": an existing folder, so only the empty path is wrong
        main([str(tmp_path) if word == "art" else word for word in command])
    assert exited.value.code == 2 and "expected a path, got an empty string" in capsys.readouterr().err
