"""Plans: choosing only what is faster than fp32 and within the accuracy budget; never applied elsewhere."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from beit_runtime.errors import InputError
from beit_runtime.planning.machine import machine_description, machine_key
from beit_runtime.planning.plan import (
    Plan,
    PlanRow,
    applicable,
    choose,
    read_plan,
    write_plan,
)
from beit_runtime.planning.timing import interleaved_rounds, per_round_ratio


def _row(name: str, median: float, q1: float, *, eligible: bool = True, drop: float = 0.0) -> PlanRow:
    backend, precision = name.split("-")
    return PlanRow(backend, precision, {"median": median, "q1": q1, "q3": median + 0.1, "rounds": 7},
                   {"top1": 0.9}, drop, eligible)


def test_choose_takes_the_fastest_eligible_row_and_stays_on_fp32_without_one():
    best, reason = choose([_row("onnxruntime-int8", 2.0, 1.8), _row("openvino-int8", 3.0, 2.7),
                           _row("openvino-bf16", 5.0, 4.0, eligible=False)])
    assert best is not None and best.name == "openvino-int8" and "3.00x fp32" in reason
    best, reason = choose([_row("onnxruntime-int8", 0.7, 0.6, eligible=False)])
    assert best is None and "no variant" in reason


def test_per_round_ratio_is_the_median_of_ratios_not_a_ratio_of_medians():
    slow, fast = [1.0, 1.0, 10.0], [1.0, 2.0, 2.0]
    assert per_round_ratio(slow=slow, fast=fast)["median"] == pytest.approx(1.0)  # ratios 1, 0.5, 5
    assert np.median(slow) / np.median(fast) == pytest.approx(0.5)
    with pytest.raises(InputError, match="at least one round"):
        per_round_ratio(slow=[], fast=[1.0])


def test_interleaved_rounds_run_each_variant_in_turn():
    calls: list[str] = []
    times = interleaved_rounds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=3, warmup=1)
    assert calls == ["a", "b"] * 4 and [len(v) for v in times.values()] == [3, 3]


def test_after_round_is_called_between_timed_rounds_only():
    calls: list[str] = []
    interleaved_rounds({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, rounds=2, warmup=1,
                       after_round=lambda: calls.append("|"))
    assert calls == ["a", "b", "a", "b", "|", "a", "b", "|"]


def _plan(**changes) -> Plan:
    digest = "a" * 64
    plan = Plan(machine=machine_description(), machine_key=machine_key(), artifact_digest=digest,
                artifact="a", batch_size=8, max_drop=1.0, accuracy_source="labelled x", chosen_backend="openvino",
                chosen_precision="int8", reason="r", rows=(_row("openvino-int8", 3.0, 2.7),))
    return dataclasses.replace(plan, **changes)


def test_a_plan_round_trips_through_its_file_and_applies_only_to_its_machine_and_artifact(tmp_path):
    path = write_plan(_plan(), tmp_path / "deep" / "plan.json")
    plan = read_plan(path)
    assert plan == _plan(created=plan.created) and not list(path.parent.glob(".*tmp"))
    digest = "a" * 64
    assert applicable(plan, digest=digest) == ""
    assert "another artifact" in applicable(plan, digest="c" * 64)
    other = {**machine_description(), "kernel_flags": ["avx", "avx2", "fma"]}
    elsewhere = _plan(machine=other, machine_key=machine_key(other))
    assert "another machine" in applicable(elsewhere, digest=digest) and "avx2" in applicable(elsewhere, digest=digest)


def test_a_damaged_or_foreign_plan_file_is_a_typed_error(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot be read"):
        read_plan(tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InputError, match="not a beit-deploy plan"):
        read_plan(tmp_path / "y.json")
    data = _plan().as_json()
    del data["rows"][0]["speedup"]
    (tmp_path / "z.json").write_text(json.dumps(data))
    with pytest.raises(InputError, match="damaged"):
        read_plan(tmp_path / "z.json")


def test_a_plan_file_is_only_taken_with_precision_auto(tmp_path):
    from beit_runtime.options import RunOptions

    assert RunOptions(precision="auto", plan=str(tmp_path / "p.json")).plan == tmp_path / "p.json"
    with pytest.raises(InputError, match="precision='auto'"):
        RunOptions(precision="fp16", plan=tmp_path / "p.json")
