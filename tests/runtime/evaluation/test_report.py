"""The evaluation table keeps an unavailable variant's whole reason: the `pip install` that fixes it included."""

from __future__ import annotations

from beit_runtime.errors import missing_extra
from beit_runtime.evaluation.evaluate import EvaluationReport, VariantResult
from beit_runtime.evaluation.report import table
from beit_runtime.evaluation.variants import REFERENCE, Variant


def test_a_missing_backend_row_ends_with_the_whole_install_command():
    why = missing_extra("openvino", "openvino", needed_by="the OpenVINO backend")
    results = [VariantResult(REFERENCE, images=2, seconds=1.0, figures={"top1": 0.5, "top5": 1.0, "agreement": 1.0}),
               VariantResult(Variant("openvino", "int8"), unavailable=f"{why}\nsecond line")]
    report = EvaluationReport("art", "image-classification", "data", results, skipped=[])
    row = table(report).splitlines()[2]
    assert row.startswith("openvino-int8") and row.endswith(f"unavailable: {why}")
    assert row.endswith('`pip install "beit-deploy[openvino]"`')
