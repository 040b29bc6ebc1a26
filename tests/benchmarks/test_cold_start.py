"""benchmarks/cold_start.py: the --quick run on tiny-beit writes its JSON and RESULTS.md section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.report.cold_start import BEGIN, END, write_section

REPO = Path(__file__).resolve().parents[2]
ROWS = ["no cache (before)", "first start (empty cache)", "warm start"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, beit_classifier_artifact) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("cold-start")
    (out / "RESULTS.md").write_text(f"# Results\n\nbefore\n\n{BEGIN}\nold\n{END}\n\nafter\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "benchmarks/cold_start.py", "--quick", "--artifact-dir", str(beit_classifier_artifact),
         "--model", "tiny-beit", "--output", str(out / "cold.json"), "--results-md", str(out / "RESULTS.md")],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    return out, done


def test_quick_run_measures_every_row(quick_run):
    out, done = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    data = json.loads((out / "cold.json").read_text())
    assert [row["name"] for row in data["rows"]] == ROWS
    caches = {row["name"]: row["cache"] for row in data["rows"]}
    assert caches == {"no cache (before)": "off", "first start (empty cache)": "written", "warm start": "hit"}
    for row in data["rows"]:
        assert row["total_s"] >= row["load_s"] > 0 and row["first_result_s"] > 0 and row["peak_rss_mib"] > 0
        assert row["rss_over_weights"] == pytest.approx(row["peak_rss_mib"] * 2 ** 20 / data["weight_bytes"])
    assert data["machine"]["cpu"] and data["inference_ratio"]["equal"] is True
    assert data["inference_ratio"]["cached_status"] == "hit"


def test_results_md_block_is_replaced_in_place(quick_run):
    out, done = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    text = (out / "RESULTS.md").read_text()
    assert text.startswith("# Results\n\nbefore\n\n" + BEGIN) and text.endswith(END + "\n\nafter\n")
    assert "\nold\n" not in text and "| warm start | 2 |" in text and "CPU: " in text
    assert "Goals (issue 19, item 6)" in text and "| warm start |" in done.stdout


def test_a_section_is_appended_when_there_is_none(quick_run, tmp_path):
    out, done = quick_run
    assert done.returncode == 0, done.stderr[-3000:]
    target = tmp_path / "RESULTS.md"
    target.write_text("# Results\n", encoding="utf-8")
    write_section(target, json.loads((out / "cold.json").read_text()))
    text = target.read_text()
    assert text.startswith("# Results\n\n## Cold start (ORT fp32)\n\n" + BEGIN) and text.count(BEGIN) == 1


def test_quick_never_replaces_the_stored_figures(capsys):
    """``--quick`` is a smoke test: with ``--write-results`` it is refused before anything runs, and without it
    the results go to benchmarks/out/, not over benchmarks/RESULTS-cold-start.json."""
    from benchmarks import cold_start

    with pytest.raises(SystemExit) as caught:
        cold_start.main(["--quick", "--write-results"])
    assert caught.value.code == 2 and "never stored" in capsys.readouterr().err
    assert cold_start.build_parser().parse_args([]).output == Path("benchmarks/out/cold-start.json")
