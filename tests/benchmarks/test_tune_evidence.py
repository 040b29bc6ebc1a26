"""benchmarks.tune_evidence --quick on tiny-beit: this machine's plan is recorded with its CPU, the rule
"never a variant slower than fp32 here" holds in what is written, and entries are kept one per CPU.

Nothing timed is asserted: which variant wins is the benchmark's business, not the test's."""

from __future__ import annotations

import copy
import json

import pytest

from benchmarks import tune_evidence
from benchmarks.report.tune import BEGIN, END


def _strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} in the results JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tune-evidence")
    (folder / "RESULTS.md").write_text(f"# Results\n\n{BEGIN}\nold\n{END}\n\nafter\n", encoding="utf-8")
    path = folder / "RESULTS-tune.json"
    code = tune_evidence.main(["--quick", "--cache-dir", str(folder / "cache"), "--write-results", str(path)])
    return code, _strict(path.read_text(encoding="utf-8")), (folder / "RESULTS.md").read_text(encoding="utf-8")


def test_the_plan_is_recorded_with_the_cpu(quick_run):
    code, results, _ = quick_run
    assert code == 0 and len(results["machines"]) == 1
    entry = results["machines"][0]
    assert entry["model"] == "tiny-beit" and entry["cpu"]["model"] and entry["rounds"] == 4
    plan = entry["plan"]
    names = {(row["backend"], row["precision"]) for row in plan["rows"]}
    assert {("onnxruntime", "fp32"), ("onnxruntime", "fp16"), ("onnxruntime", "int8")} <= names


def test_no_variant_not_clearly_faster_is_eligible_or_chosen(quick_run):
    plan = quick_run[1]["machines"][0]["plan"]
    for row in plan["rows"]:
        if (row["backend"], row["precision"]) == ("onnxruntime", "fp32"):
            assert not row["eligible"]  # the reference itself
        elif row["speedup"] and row["speedup"]["q1"] <= 1.0:
            assert not row["eligible"] and row["note"]
    chosen = (plan["chosen_backend"], plan["chosen_precision"])
    if chosen != ("onnxruntime", "fp32"):
        row = next(r for r in plan["rows"] if (r["backend"], r["precision"]) == chosen)
        assert row["eligible"] and row["speedup"]["q1"] > 1.0


def test_results_md_block_is_regenerated(quick_run):
    _, results, text = quick_run
    assert text.startswith(f"# Results\n\n{BEGIN}\n") and text.endswith(f"{END}\n\nafter\n")
    assert "\nold\n" not in text and "Chosen: **" in text and results["machines"][0]["cpu"]["model"] in text


def test_one_entry_per_cpu(quick_run):
    results = quick_run[1]
    entry = results["machines"][0]
    assert len(tune_evidence.merge(results, copy.deepcopy(entry))["machines"]) == 1  # a rerun replaces
    other = copy.deepcopy(entry)
    other["cpu"]["model"] = "AMD EPYC 7B12"
    merged = tune_evidence.merge(results, other)
    assert [m["cpu"]["model"] for m in merged["machines"]] == [entry["cpu"]["model"], "AMD EPYC 7B12"]


def test_repository_block_is_generated_from_its_results_file():
    from pathlib import Path

    from benchmarks.report.tune import render

    text = (Path(tune_evidence.__file__).with_name("RESULTS.md")).read_text(encoding="utf-8")
    block = text[text.index(BEGIN) + len(BEGIN) + 1: text.index(END)]
    assert block == render(_strict(tune_evidence.DEFAULT_RESULTS.read_text(encoding="utf-8")))
