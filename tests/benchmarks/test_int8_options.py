"""benchmarks.int8_options --quick on tiny-beit: every candidate is built, checked and given a verdict.

Nothing timed is asserted (speed is the benchmark's business); the parity marking is, with a strict
``--max-rel-l2`` so that some candidates must fail it.
"""

from __future__ import annotations

import json

import pytest

from benchmarks import int8_options
from benchmarks.workload.int8_variants import RECIPES

STRICT_REL_L2 = 1e-3
VERDICTS = {"faster than fp32 here", "slower than fp32 here", "fails parity", "not measured"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("int8-options")
    path = folder / "results.json"
    code = int8_options.main(["--quick", "--rounds", "1", "--max-rel-l2", str(STRICT_REL_L2),
                              "--cache-dir", str(folder / "cache"), "--write-results", str(path)])
    return code, json.loads(path.read_text(encoding="utf-8")), folder / "RESULTS.md"


def test_every_candidate_is_recorded_with_a_verdict(quick_run):
    code, results, _ = quick_run
    assert code == 0
    rows = results["candidates"]
    assert {row["candidate"] for row in rows} == set(RECIPES)
    assert {row["verdict"] for row in rows} <= VERDICTS
    for row in rows:
        assert {"backend", "isa_cap", "description"} <= set(row)
        assert "error" not in row, f"{row['candidate']} on {row['backend']}: {row.get('error')}"
        assert {"rel_l2", "top1_agreement", "passed"} <= set(row["parity"])
        assert set(row["timing"]) == {"b1", "b8"}
        assert {"speedup_median", "speedup_iqr"} <= set(row["timing"]["b1"])


def test_parity_failures_are_marked(quick_run):
    rows = quick_run[1]["candidates"]
    for row in rows:
        too_far = row["parity"]["rel_l2"] > STRICT_REL_L2
        assert row["parity"]["passed"] is not too_far
        assert (row["verdict"] == "fails parity") is too_far
    assert any(row["verdict"] == "fails parity" for row in rows)


def test_results_name_the_machine_and_libraries(quick_run):
    results = quick_run[1]
    assert results["cpu"]["model"]
    assert results["versions"]["onnxruntime"]  # a library that is not installed is left out
    if results["cpu"]["beyond_avx2"] and results["cpu"]["has_avx2"]:
        assert any(row["isa_cap"] == "AVX2" for row in results["candidates"])


def test_the_results_table_goes_into_results_md_beside_the_file(quick_run):
    _, results, results_md = quick_run
    text = results_md.read_text(encoding="utf-8")
    assert text.count("<!-- results:begin -->") == 1 and text.count("<!-- results:end -->") == 1
    block = text.split("<!-- results:begin -->")[1].split("<!-- results:end -->")[0]
    family, model, _ = results["cpu"]["family_model_stepping"]
    assert f"family {family} model {model}" in block and "onnxruntime" in block
    for row in results["candidates"]:
        assert f"| {row['candidate']} | {row['backend']} | {row['isa_cap']} |" in block
        assert row["verdict"] in block
    int8_options.write_results(results_md.with_name("results.json"), results)  # a rerun replaces its block
    assert results_md.read_text(encoding="utf-8").count("<!-- results:begin -->") == 1


def test_unknown_candidate_is_refused(capsys):
    with pytest.raises(SystemExit):
        int8_options.build_parser().parse_args(["--candidates", "ort-magic"])
    assert "unknown candidates ['ort-magic']" in capsys.readouterr().err
