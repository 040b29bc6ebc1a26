"""Applying a plan: keyed by the hardware only, so another python environment of this machine (Triton's, with its
own numpy and no OpenVINO) applies it; a variant whose backend is missing or of another version is skipped for
the plan's next fastest, with the reason; fp32 when none can run as measured."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from beit_runtime.engines.backends import BACKEND_INFO
from beit_runtime.planning.apply import runnable_choice
from beit_runtime.planning.machine import LIBRARIES, library_versions, machine_description, machine_key
from beit_runtime.planning.plan import Plan, PlanRow, applicable

PATH = Path("plan.json")


def _row(backend: str, precision: str, median: float) -> PlanRow:
    return PlanRow(backend, precision, {"median": median, "q1": median - 0.2, "q3": median + 0.2, "rounds": 5},
                   {"top1": 0.9}, 0.0, True)


def _plan(*, libraries: dict[str, str], chosen: tuple[str, str] = ("openvino", "int8")) -> Plan:
    machine = {**machine_description(), "libraries": libraries}
    rows = (_row("onnxruntime", "int8", 1.5), _row("openvino", "int8", 3.0), _row("onnxruntime", "fp16", 1.2))
    return Plan(machine=machine, machine_key=machine_key(machine), artifact_digest="a" * 64, artifact="a",
                batch_size=8, max_drop=1.0, accuracy_source="labelled x", chosen_backend=chosen[0],
                chosen_precision=chosen[1], reason="openvino-int8: 3.00x fp32", rows=rows)


def test_the_machine_key_ignores_library_versions_but_not_the_cpu():
    here = machine_description()
    other_environment = {**here, "libraries": {"numpy": "1.26.4", "onnxruntime": "0.1"}}
    assert machine_key(other_environment) == machine_key(here)
    assert machine_key({**here, "kernel_flags": ["avx", "avx2"]}) != machine_key(here)
    plan = _plan(libraries={"numpy": "1.26.4"})
    assert applicable(plan, digest="a" * 64) == ""


def test_every_backend_s_library_is_recorded_in_a_plan():
    for info in BACKEND_INFO.values():
        assert set(info.distributions) <= set(LIBRARIES) or info.name == "tensorrt", info.name


def test_a_backend_missing_or_of_another_version_is_skipped_for_the_plan_s_next_fastest():
    installed = library_versions()
    measured = {**installed, "openvino": "1999.0"}  # the plan measured another OpenVINO than this one (if any)
    choice = runnable_choice(_plan(libraries=measured), path=PATH)
    assert (choice.backend, choice.precision, choice.planned) == ("onnxruntime", "int8", True)
    assert "openvino-int8 skipped" in choice.reason and "onnxruntime-int8, the plan's fastest" in choice.reason
    same = runnable_choice(_plan(libraries=installed), path=PATH)
    if BACKEND_INFO["openvino"].installed():
        assert (same.backend, same.precision) == ("openvino", "int8")
        assert same.reason == f"plan {PATH}: openvino-int8: 3.00x fp32"
    else:
        assert "openvino is not installed in this environment" in same.reason


def test_no_variant_that_runs_as_measured_is_fp32_naming_each_reason():
    measured = {"onnxruntime": "0.0.1", "openvino": "1999.0"}
    choice = runnable_choice(_plan(libraries=measured), path=PATH)
    assert (choice.backend, choice.precision, choice.planned) == ("onnxruntime", "fp32", False)
    assert choice.reason.startswith(f"fp32: plan {PATH} not applied: ")
    assert "the plan measured onnxruntime 0.0.1 and this environment has onnxruntime " in choice.reason
    assert choice.reason.count("skipped") == 3


def test_a_plan_that_chose_fp32_is_followed_when_onnxruntime_is_as_measured():
    plan = dataclasses.replace(_plan(libraries=library_versions(), chosen=("onnxruntime", "fp32")), rows=(),
                               reason="no variant was both faster than fp32 and within the accuracy budget")
    choice = runnable_choice(plan, path=PATH)
    assert (choice.backend, choice.precision, choice.planned) == ("onnxruntime", "fp32", True)
    assert "no variant was both faster" in choice.reason
