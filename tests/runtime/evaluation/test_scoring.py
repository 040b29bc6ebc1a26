"""Each task's evaluation, as the registry describes it: scored by the one scoring its kind maps to, reporting
the registry's metrics."""

from __future__ import annotations

import numpy as np
import pytest

from beit_runtime.errors import InputError
from beit_runtime.evaluation.scoring import SCORINGS, scoring_for
from beit_runtime.tasks import EVALUATIONS, TASK_NAMES, TASKS


def test_every_kind_of_evaluation_has_its_scoring():
    assert set(SCORINGS) == set(EVALUATIONS)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_an_evaluated_task_s_figures_are_its_registry_metrics_headline_first(name):
    entry = TASKS[name]
    if entry.evaluation is None:
        assert entry.evaluation_metrics == () and entry.headline_metric == "agreement"
        with pytest.raises(InputError, match=f"evaluate measures .* artifacts, not '{name}'"):
            scoring_for(name)
        return
    scoring = scoring_for(name)
    assert scoring is SCORINGS[entry.evaluation]
    if not scoring.uses_labels:  # a backbone's embeddings: judged against fp32 alone, by agreement first
        score = scoring(num_classes=0, reduce_labels=False).new_score()
        score.add(np.eye(3), np.eye(3))
        assert entry.evaluation_metrics == () and next(iter(score.figures())) == entry.headline_metric == "agreement"
        return
    figures = scoring(num_classes=3, reduce_labels=False).new_score().figures()
    assert list(figures) == [*entry.evaluation_metrics, "agreement"]
    assert entry.headline_metric == entry.evaluation_metrics[0]


def test_head_weights_name_one_task_each():
    heads = [head for entry in TASKS.values() for head in entry.head_weights]
    assert len(heads) == len(set(heads)) and not TASKS["backbone"].head_weights
