"""``tune`` on the tasks evaluate does not score: a masked-image-modeling artifact is timed (its task class called
with masks hiding no patch) and judged by the exporter's parity agreement; ``--data`` on it is refused before
measuring, saying what tune does without it."""

from __future__ import annotations

import numpy as np
from PIL import Image

from beit_runtime.cli import main
from beit_runtime.planning.tune import TuneOptions, tune


def test_tune_times_a_masked_image_modeling_artifact(beit_mim_artifact, tmp_path):
    plan, path = tune(beit_mim_artifact, options=TuneOptions(rounds=4, batch_size=2, plan_path=tmp_path / "plan.json",
                                                             progress="off"))
    assert path.is_file()
    measured = [row for row in plan.rows if not row.note.startswith("unavailable")]
    assert measured[0].name == "onnxruntime-fp32" and measured[0].speedup["rounds"] == 4
    assert all(row.speedup["rounds"] == 4 and "agreement" in row.accuracy for row in measured), plan.rows
    assert measured[0].drop_points == 0.0


def test_tune_data_on_masked_image_modeling_says_what_tune_does_without_it(beit_mim_artifact, tmp_path, capsys):
    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "images" / "a.png")
    plan = tmp_path / "plan.json"
    assert main(["tune", str(beit_mim_artifact), "--data", str(tmp_path / "images"), "--unlabelled",
                 "--plan", str(plan)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("beit-run tune: error: tune --data measures the accuracy of backbone, image-classification "
                          "and semantic-segmentation artifacts, not 'masked-image-modeling'"), err
    assert "evaluate measures" not in err and f"without --data, `beit-run tune {beit_mim_artifact}` times" in err
    assert not plan.exists()
