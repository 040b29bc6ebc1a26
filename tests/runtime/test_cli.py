"""beit-run: prints predictions (classification), embeddings, tokens, or segmentation overlays."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from beit_runtime import Classifier, FeatureExtractor
from beit_runtime.cli import main
from tests.hidden_modules import run_without


@pytest.fixture(scope="module")
def image_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    paths = []
    for name in ("chelsea", "rocket"):
        path = folder / f"{name}.png"
        cv2.imwrite(str(path), getattr(skimage.data, name)()[:, :, ::-1])
        paths.append(path)
    return paths


def test_classification_prints_top_k(beit_classifier_artifact, image_files, capsys):
    assert main([str(beit_classifier_artifact), *map(str, image_files), "--top-k", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == str(image_files[0]) and out[4] == str(image_files[1])
    with Classifier(beit_classifier_artifact) as classifier:
        expected = classifier.classify([str(p) for p in image_files], top_k=3)
    assert out[1:4] == [f"  {p.score:.4f}  {p.label} ({p.id})" for p in expected[0]]


def test_classification_json(beit_classifier_artifact, image_files, capsys):
    assert main([str(beit_classifier_artifact), str(image_files[1]), "--json", "--batch-size", "1"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["image"] == str(image_files[1]) and len(record["predictions"]) == 5
    with Classifier(beit_classifier_artifact) as classifier:
        expected = classifier(str(image_files[1]))
    assert [(p["label"], p["id"]) for p in record["predictions"]] == [(p.label, p.id) for p in expected]
    np.testing.assert_allclose([p["score"] for p in record["predictions"]], [p.score for p in expected], rtol=1e-6)


def test_backbone_saves_embeddings(beit_backbone_artifact, image_files, tmp_path, capsys):
    assert main([str(beit_backbone_artifact), *map(str, image_files), "--output", str(tmp_path / "out")]) == 0
    assert "embedding dim 32" in capsys.readouterr().out
    with FeatureExtractor(beit_backbone_artifact) as extractor:
        expected = extractor.extract([str(p) for p in image_files])
    for path, vector in zip(image_files, expected, strict=True):
        np.testing.assert_allclose(np.load(tmp_path / "out" / f"{path.stem}.npy"), vector, atol=1e-6)


def test_masked_image_modeling_prints_tokens(beit_mim_artifact, image_files, capsys):
    assert main([str(beit_mim_artifact), str(image_files[0])]) == 0
    assert "16 visual tokens" in capsys.readouterr().out


def test_segmentation_writes_overlays_with_legends(beit_segmentation_artifact, image_files, tmp_path, capsys):
    from beit_runtime import Segmenter
    from beit_runtime.images import load_image
    from beit_runtime.legend import segmentation_picture

    argv = [str(beit_segmentation_artifact), *map(str, image_files), "--output", str(tmp_path), "--side-by-side",
            "--json"]
    assert main(argv) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    with Segmenter(beit_segmentation_artifact) as segmenter:
        names = segmenter.labels
        for path, record in zip(image_files, records, strict=True):
            image = load_image(path)
            labels = segmenter(image).labels
            pictures = [str(tmp_path / f"{path.stem}.png"), str(tmp_path / f"{path.stem}.side-by-side.png")]
            assert record["pictures"] == pictures
            by_area = sorted(np.unique(labels).tolist(), key=lambda i: -(labels == i).sum())
            assert [c["id"] for c in record["classes"]] == by_area
            for target, side in zip(record["pictures"], (False, True), strict=True):
                written = cv2.cvtColor(cv2.imread(target, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
                expected = segmentation_picture(image, labels, id2label=names, side_by_side=side)
                np.testing.assert_array_equal(written, expected)


def test_side_by_side_needs_an_output_folder(beit_segmentation_artifact, image_files, capsys):
    assert main([str(beit_segmentation_artifact), str(image_files[0]), "--side-by-side"]) == 2
    assert "--output" in capsys.readouterr().err


def test_a_missing_image_is_a_usage_error_before_the_model_loads(beit_classifier_artifact, image_files, tmp_path,
                                                                   capsys):
    missing = tmp_path / "missing.jpg"
    assert main([str(beit_classifier_artifact), str(image_files[0]), str(missing), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"image file {missing} does not exist; check the path" in captured.err


def test_a_folder_of_artifacts_names_them(beit_classifier_artifact, image_files, tmp_path, capsys):
    parent = tmp_path / "artifacts"
    (parent / "notes").mkdir(parents=True)
    (parent / "cls").symlink_to(beit_classifier_artifact, target_is_directory=True)
    assert main([str(parent), str(image_files[0])]) == 2  # an artifact that cannot be used as given: bad usage
    assert f"it holds an artifact: {parent / 'cls'} (pass one of them)" in capsys.readouterr().err


def test_an_artifact_that_cannot_be_used_as_given_is_a_usage_error(beit_classifier_artifact, image_files, tmp_path,
                                                                   capsys):
    """Exit 2 (bad usage), as for an artifact folder that does not exist; these were exit 1 (the run failed)."""
    checkpoint, corrupt = tmp_path / "checkpoint", tmp_path / "corrupt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    shutil.copytree(beit_classifier_artifact, corrupt)
    (corrupt / "manifest.json").write_text("{not json")
    cases = (([str(checkpoint)], "has no manifest.json: it is not a beit-deploy artifact"),
             ([str(corrupt)], "is not readable JSON"),
             ([str(beit_classifier_artifact), "--precision", "int8"], "has no 'int8' graph (it has: fp32)"))
    for artifact, says in cases:
        assert main([*artifact, str(image_files[0])]) == 2
        captured = capsys.readouterr()
        assert says in captured.err and captured.out == ""


@pytest.mark.parametrize(("image", "says"), [("https://example.com/x.jpg", "is a URL; URLs are not fetched"),
                                             ("-", "'-' (standard input) is not read")])
def test_urls_and_standard_input_are_usage_errors_that_say_so(beit_classifier_artifact, image, says, capsys):
    """They were "image file https:/example.com/x.jpg does not exist" (the double slash collapsed), "image file -"."""
    with pytest.raises(SystemExit) as caught:
        main([str(beit_classifier_artifact), image])
    assert caught.value.code == 2 and says in capsys.readouterr().err


def test_errors_are_reported_not_raised(beit_classifier_artifact, image_files, tmp_path, capsys):
    missing, a_file = tmp_path / "no-artifact", tmp_path / "a-file"
    a_file.write_text("x")
    runs = ([str(image_files[0]), "--output", str(tmp_path / "out")], ["evaluate", "--data", str(tmp_path)], ["tune"])
    for artifact, says in ((missing, f"artifact folder {missing} does not exist"), (a_file, f"{a_file} is a file")):
        for run in runs:  # a usage error (exit 2) before anything loads, as a missing image file is
            command = [run[0], str(artifact), *run[1:]] if run[0] in ("evaluate", "tune") else [str(artifact), *run]
            with pytest.raises(SystemExit) as caught:
                main(command)
            assert caught.value.code == 2 and says in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before the folder run created its --output
    assert main([str(beit_classifier_artifact), str(image_files[0]), "--top-k", "0"]) == 2
    assert "--top-k" in capsys.readouterr().err
    assert main([str(beit_classifier_artifact), str(image_files[0]), "--plan", str(tmp_path / "plan.json")]) == 2
    assert "--plan is read by --precision auto only: add --precision auto" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([str(beit_classifier_artifact), str(image_files[0]), "--precision", "fp64"])


def test_module_entry_point_help():
    completed = subprocess.run([sys.executable, "-m", "beit_runtime.cli", "--help"], capture_output=True, text=True,
                               timeout=60, check=False)
    assert completed.returncode == 0 and "beit-run" in completed.stdout and "--top-k" in completed.stdout


def test_ctrl_c_during_a_run_of_image_files_is_exit_130_without_a_traceback(beit_classifier_artifact, tmp_path):
    import signal

    rng = np.random.default_rng(3)
    paths = []
    for index in range(300):
        paths.append(str(tmp_path / f"{index:03d}.png"))
        cv2.imwrite(paths[-1], rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    # A one-page pipe the test does not drain holds the run at its ~20th image (300 images print ~75 kB), so the
    # signal always lands midway however fast the machine: CI's ran all 300 before the signal came.
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, 4096)
    process = subprocess.Popen([sys.executable, "-u", "-m", "beit_runtime.cli", str(beit_classifier_artifact), *paths,
                                "--batch-size", "1"], stdout=write_end, stderr=subprocess.PIPE, text=True)
    os.close(write_end)
    with os.fdopen(read_end, encoding="utf-8") as stdout:
        try:
            assert stdout.readline().strip() == paths[0]  # the first image's results are being printed
            process.send_signal(signal.SIGINT)
            out = stdout.read()
            err = process.communicate(timeout=60)[1]
        finally:
            process.kill()
    assert process.returncode == 130 and err.strip().endswith("beit-run: interrupted") and "Traceback" not in err
    assert paths[-1] not in out  # stopped midway


def test_bf16_on_a_backend_other_than_openvino_is_a_usage_error(beit_classifier_artifact, tmp_path, capsys):
    image = tmp_path / "in" / "a.png"
    image.parent.mkdir()
    assert cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    for inputs in ([str(image)], [str(image.parent), "--output", str(tmp_path / "out")]):
        assert main([str(beit_classifier_artifact), *inputs, "--precision", "bf16", "--backend", "onnxruntime"]) == 2
        assert ("beit-run: error: precision bf16 runs the fp32 graph on backend openvino only, not onnxruntime: "
                "choose backend openvino (or auto)") in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_backend_exits_5_naming_its_extra_as_beit_export_does(beit_classifier_artifact, image_files,
                                                                         tmp_path):
    for inputs in ([str(image_files[0])], [str(image_files[0].parent), "--output", str(tmp_path / "out")]):
        done = run_without(["openvino"], "beit_runtime.cli:main",
                           [str(beit_classifier_artifact), *inputs, "--backend", "openvino"])
        assert done.returncode == 5, done.stderr
        assert done.stderr.strip().endswith('the OpenVINO backend needs openvino, which is not installed; install it '
                                            'with `pip install "beit-deploy[openvino]"`'), done.stderr
        assert "Traceback" not in done.stderr


def test_an_image_that_does_not_decode_is_reported_and_the_others_still_run(beit_classifier_artifact, tmp_path,
                                                                            capsys):
    good = [tmp_path / "a.png", tmp_path / "c.png"]
    for path in good:
        assert cv2.imwrite(str(path), np.full((32, 32, 3), 90, np.uint8))
    broken = tmp_path / "b.jpg"
    broken.write_text("<html>not found</html>\n", encoding="utf-8")
    assert main([str(beit_classifier_artifact), str(good[0]), str(broken), str(good[1]), "--json"]) == 3
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [record["image"] for record in records] == [str(broken), *map(str, good)]  # decoded before any runs
    failure = records[0]  # in the JSON stream too, with the fields of a folder run's errors.jsonl
    assert sorted(failure) == ["error", "image", "reason"] and failure["error"] == "ImageDecodeError"
    assert failure["reason"].startswith(f"{broken} is not a decodable image")
    assert f"beit-run: error: {broken} is not a decodable image" in captured.err
    expected = Classifier(beit_classifier_artifact).classify([str(good[0])], top_k=5)[0]
    assert records[1]["predictions"][0]["id"] == expected[0].id


def test_a_closed_stdout_ends_the_run_quietly_with_exit_141(beit_classifier_artifact, image_files):
    """`beit-run ... | head -1`: the reader went away, and a BrokenPipeError traceback ended the run with exit 1."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # closed before the run writes a byte: its first flush fails, whatever the timing
    try:
        completed = subprocess.run([sys.executable, "-m", "beit_runtime.cli", str(beit_classifier_artifact),
                                    *map(str, image_files)], stdout=write_end, stderr=subprocess.PIPE, text=True,
                                   timeout=120, check=False)
    finally:
        os.close(write_end)
    assert completed.returncode == 141 and completed.stderr == ""


def test_attention_layer_without_attention_maps_is_a_usage_error(beit_classifier_artifact, image_files, capsys):
    assert main([str(beit_classifier_artifact), str(image_files[0]), "--attention-layer", "7"]) == 2
    err = capsys.readouterr().err
    assert "--attention-layer 7" in err and "add --attention-maps DIR" in err
