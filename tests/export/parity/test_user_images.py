"""Export with the user's own images: static int8 calibrated on them, parity checked on them, recorded by count
and digest only; unreadable files are skipped and counted, a folder without a readable image is a usage error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from beit_export.checkpoint import load_checkpoint
from beit_export.cli import exit_code
from beit_export.demo import DEMO_CLASSIFIER_ID
from beit_export.demo.digits import train_split
from beit_export.options import ExportOptions, ExportOptionsError
from beit_export.parity.user_images import read_user_images
from beit_export.pipeline import export_artifact
from beit_runtime import load_manifest
from beit_runtime.errors import DatasetError


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """40 training digits as PNG files in nested folders, plus a corrupt file and a text file."""
    root = tmp_path_factory.mktemp("calibration")
    split = train_split()
    for index in range(40):
        folder = root / f"batch{index % 3}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(split.images[index]).save(folder / f"{index:03d}.png")
    (root / "batch0" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    (root / "notes.txt").write_text("not an image")
    return root


def test_read_user_images_samples_deterministically_and_counts_unreadable_files(digit_folder):
    first = read_user_images(digit_folder, size=41, purpose="calibration")
    assert first.record == read_user_images(digit_folder, size=41, purpose="calibration").record
    assert first.record["found"] == 41 and first.record["images"] + first.record["skipped"] == 41
    assert first.record["skipped"] == 1 and all(image.shape == (8, 8, 3) for image in first.images)
    assert len(read_user_images(digit_folder, size=10, purpose="calibration")) <= 10


def test_a_folder_without_readable_images_is_a_usage_error(tmp_path):
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DatasetError, match="no readable image") as raised:
        read_user_images(tmp_path, size=8, purpose="calibration")
    assert exit_code(raised.value) == 2


def test_calibration_data_needs_static_int8_and_a_folder(tmp_path):
    with pytest.raises(ExportOptionsError, match="static int8"):
        ExportOptions(calibration_data=tmp_path)
    with pytest.raises(ExportOptionsError, match="missing does not exist; pass a folder of images"):
        ExportOptions(int8=True, calibration_data=tmp_path / "missing")
    with pytest.raises(ExportOptionsError, match="positive"):
        ExportOptions(int8=True, calibration_data=tmp_path, calibration_size=0)


def test_static_int8_calibrated_and_checked_on_the_users_images(digit_folder, tmp_path):
    options = ExportOptions(int8=True, photos=False, calibration_data=digit_folder, calibration_size=24)
    artifact = export_artifact(load_checkpoint(DEMO_CLASSIFIER_ID), output=tmp_path / "a", options=options)
    manifest = load_manifest(artifact)
    assert manifest.export is not None
    calibration, parity = manifest.export.calibration, manifest.export.parity_data
    assert calibration["images"] + calibration["skipped"] == 24 and len(calibration["file_list_sha256"]) == 64
    assert parity["images"] >= 1  # defaults to the calibration folder
    conversion = manifest.parity["int8"].conversion or {}
    assert "--calibration-data" in conversion["calibration_data"]
    user_cases = [case["name"] for case in manifest.parity["int8"].cases if case["name"].startswith("user")]
    assert user_cases and manifest.parity["int8"].passed
    text = (artifact / "manifest.json").read_text()
    assert str(digit_folder) not in text and "batch0" not in text  # counts and digests, never paths or names
    assert json.loads(text)["export"]["calibration"]["images"] == calibration["images"]
    assert np.isfinite(manifest.parity["int8"].outputs["logits"]["rel_l2"])


def test_the_cli_takes_calibration_data_and_refuses_an_empty_folder(digit_folder, tmp_path, capsys):
    from beit_export.cli import main

    (tmp_path / "empty").mkdir()
    code = main(["--model", DEMO_CLASSIFIER_ID, "--int8", "--calibration-data", str(tmp_path / "empty"),
                 "--output", str(tmp_path / "never"), "--quiet"])
    assert code == 2 and "no readable image" in capsys.readouterr().err and not (tmp_path / "never").exists()
    assert main(["--model", DEMO_CLASSIFIER_ID, "--calibration-data", str(digit_folder),
                 "--output", str(tmp_path / "never"), "--quiet"]) == 2
    assert "static int8" in capsys.readouterr().err


@pytest.fixture(scope="module")
def scene_layout_folder(tmp_path_factory):
    """12 digits as a segmentation data set in evaluate's layout (images/ beside masks/), with an evaluation
    report (its plot a PNG) left inside images/."""
    root = tmp_path_factory.mktemp("scenes")
    split = train_split()
    for folder in ("images", "masks", "images/report"):
        (root / folder).mkdir()
    for index in range(12):
        Image.fromarray(split.images[index]).save(root / "images" / f"{index:02d}.png")
        Image.fromarray(np.zeros((8, 8), np.uint8)).save(root / "masks" / f"{index:02d}.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(root / "images" / "report" / "accuracy-vs-speed.png")
    (root / "images" / "report" / "evaluation-state.json").write_text("{}")
    return root


def test_a_segmentation_set_gives_its_images_only_and_a_report_inside_is_left_out(scene_layout_folder):
    images = read_user_images(scene_layout_folder, size=32, purpose="calibration")
    assert images.record["found"] == 12 and len(images) == 12
    layout, report = images.notes
    assert f"reading {scene_layout_folder / 'images'} only" in layout
    assert f"skipped 1 evaluation report folder(s), not data: {scene_layout_folder / 'images' / 'report'}" == report


def test_the_export_says_what_of_the_calibration_folder_it_left_out(scene_layout_folder, tmp_path):
    lines: list[str] = []
    options = ExportOptions(int8=True, photos=False, calibration_data=scene_layout_folder, calibration_size=8)
    artifact = export_artifact(load_checkpoint(DEMO_CLASSIFIER_ID), output=tmp_path / "a", options=options,
                               progress=lines.append)
    export = load_manifest(artifact).export
    assert export is not None and export.calibration["found"] == export.parity_data["found"] == 12
    said = [line for line in lines if line.startswith("--calibration-data: ")]  # read twice: parity defaults to it
    assert sum("masks are labels" in line for line in said) == sum("1 evaluation report folder" in line
                                                                   for line in said) == 2, lines


def test_an_unreadable_sampled_file_is_replaced_by_the_next_one(tmp_path):
    """6 files, 5 readable: --calibration-size N uses N images for every N up to 5 (the corrupt file is the one
    ranked first, so every sample meets it), the same ones on every run, in the order deterministic_sample gives."""
    from beit_runtime.datasets import deterministic_sample, file_list_digest, name_rank

    paths = [tmp_path / f"{index}.png" for index in range(6)]
    for index, path in enumerate(paths):
        Image.fromarray(np.full((8, 8, 3), index * 40, dtype=np.uint8)).save(path)
    ranked = sorted(paths, key=lambda path: name_rank(path, root=tmp_path))
    ranked[0].write_bytes(b"\x89PNG\r\n\x1a\ntruncated")
    for size in range(1, 7):
        images = read_user_images(tmp_path, size=size, purpose="calibration")
        used = sorted(ranked[1:size + 1])
        assert len(images) == min(size, 5) and images.record["skipped"] == 1, (size, images.record)
        assert images.record["file_list_sha256"] == file_list_digest(used, root=tmp_path)
        assert [int(image[0, 0, 0]) // 40 for image in images.images] == [int(path.stem) for path in used]
    ranked[0].unlink()  # every file readable: the sample deterministic_sample takes, as before
    images = read_user_images(tmp_path, size=3, purpose="calibration")
    assert images.record["file_list_sha256"] == file_list_digest(
        deterministic_sample(sorted(ranked[1:]), root=tmp_path, size=3), root=tmp_path)
