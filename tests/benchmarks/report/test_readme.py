"""README's speed figures are what ``python -m benchmarks.report --readme`` writes from the stored results."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from beit_runtime.errors import InputError
from benchmarks.report.parity import BEGIN as PARITY_BEGIN
from benchmarks.report.readme import (
    BEGIN,
    END,
    README,
    StoredResults,
    readme_block,
    readme_figures,
    stale_blocks,
    write_readme,
)

REPO = Path(__file__).resolve().parents[3]


def test_readme_figures_equal_what_the_command_writes():
    """Fails when a figure in README's block is edited by hand or the results change without a rewrite."""
    assert readme_block(README.read_text(encoding="utf-8")) == readme_figures(StoredResults.load())


def test_every_generated_block_of_readme_is_current():
    """The parity block (RESULTS-parity.json) too: no figure in README that the results do not hold."""
    text = README.read_text(encoding="utf-8")
    assert stale_blocks(text, StoredResults.load()) == []
    assert text.index(PARITY_BEGIN) < text.index(BEGIN)


def test_figures_are_per_round_ratios_with_their_spread():
    block = readme_figures(StoredResults.load())
    assert "| OpenVINO fp32 | 0.96x [0.93-0.98] | 1.16x [1.10-1.17] | 96.66% |" in block
    assert "| OpenVINO bf16 | 3.50x [3.44-3.61] |" in block and "| 3.19x [3.14-3.27] |" in block
    assert "avx512_bf16" in block and "2 threads" in block  # the CPU and its flags, from the results file
    assert "fused" not in block.lower()  # the retired experiment has no row


def test_command_rewrites_a_hand_edited_block_and_check_reports_drift(tmp_path):
    readme = tmp_path / "README.md"
    shutil.copyfile(README, readme)
    readme.write_text(readme.read_text(encoding="utf-8").replace("3.19x", "3.14x"), encoding="utf-8")
    command = [sys.executable, "-m", "benchmarks.report", "--readme-path", str(readme)]
    run = {"cwd": tmp_path, "capture_output": True, "text": True, "timeout": 120}
    drift = subprocess.run([*command, "--check"], **run, check=False)
    assert drift.returncode == 1 and "python -m benchmarks.report --readme" in drift.stderr
    rewrite = subprocess.run([*command, "--readme"], **run, check=False)
    assert rewrite.returncode == 0
    assert readme.read_text(encoding="utf-8") == README.read_text(encoding="utf-8")


def test_readme_without_markers_gets_a_typed_error(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no figures here\n", encoding="utf-8")
    with pytest.raises(InputError, match="no figures block"):
        write_readme(readme)
    assert BEGIN not in readme.read_text(encoding="utf-8")
    readme.write_text(f"# only the speed block\n\n{BEGIN}\n{END}\n", encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(PARITY_BEGIN)):
        write_readme(readme)  # the parity block's markers are named


def test_readme_names_no_engine_fastest():
    assert "fastest" not in README.read_text(encoding="utf-8").lower()
