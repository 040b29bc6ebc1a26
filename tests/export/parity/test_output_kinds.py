"""Tolerance kinds come from the task registry and cover every graph output of every task."""

from __future__ import annotations

import pytest

from beit_export.errors import ExportError
from beit_export.parity import OUTPUT_KINDS, TOLERANCES, output_kind
from beit_runtime.tasks import TASK_NAMES, TASKS


@pytest.mark.parametrize("name", TASK_NAMES)
def test_every_graph_output_has_a_tolerance_kind_at_every_precision(name):
    entry = TASKS[name]
    assert OUTPUT_KINDS[name] == entry.tolerance_kinds
    for output in entry.output_names:
        kind = output_kind(name, output)
        assert all(kind in TOLERANCES[precision] for precision in TOLERANCES), (name, output, kind)


def test_unknown_tasks_and_outputs_are_export_errors():
    assert set(OUTPUT_KINDS) == set(TASK_NAMES)
    with pytest.raises(ExportError, match="unknown task 'depth'"):
        output_kind("depth", "logits")
    with pytest.raises(ExportError, match="not 'scores'"):
        output_kind("image-classification", "scores")
