"""``beit-run http://HOST:PORT/NAME IMAGE...`` against a real Triton server: the same reports as ``beit-run ARTIFACT``
for classification, segmentation overlays and attention pictures, over HTTP and gRPC; usage errors (exit 2) before
any image is sent; a server that cannot answer is exit 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from beit_runtime.cli import main
from beit_runtime.errors import InputError
from beit_runtime.remote.connect import is_served_model, split_served_model
from beit_runtime.serving.launcher import free_port

PROTOCOLS = ("http", "grpc")


def served_model(served, protocol: str, name: str) -> str:
    return f"http://{served.http}/{name}" if protocol == "http" else f"grpc://{served.grpc}/{name}"


@pytest.fixture
def photos(photo_bytes, tmp_path) -> list[str]:
    """Two real photos as files (a JPEG and a PNG)."""
    paths = [tmp_path / "in" / name for name in ("a.jpg", "b.png")]
    paths[0].parent.mkdir()
    for path, data in zip(paths, photo_bytes, strict=False):
        path.write_bytes(data)
    return [str(path) for path in paths]


def json_lines(capsys) -> list[dict]:
    captured = capsys.readouterr()
    assert captured.err == ""
    return [json.loads(line) for line in captured.out.splitlines()]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_served_classification_prints_what_the_artifact_prints(served, protocol, beit_classifier_artifact, photos,
                                                               capsys):
    assert main([str(beit_classifier_artifact), *photos, "--json", "--top-k", "3"]) == 0
    local = json_lines(capsys)
    assert main([served_model(served, protocol, "cls"), *photos, "--json", "--top-k", "3"]) == 0
    remote = json_lines(capsys)
    assert [record["image"] for record in remote] == photos
    for got, want in zip(remote, local, strict=True):
        got_top, want_top = got["predictions"], want["predictions"]
        assert [(p["label"], p["id"]) for p in got_top] == [(p["label"], p["id"]) for p in want_top]
        np.testing.assert_allclose([p["score"] for p in got_top], [p["score"] for p in want_top], rtol=0, atol=1e-6)


def test_served_segmentation_writes_the_overlays_the_artifact_writes(served, beit_segmentation_artifact, photos,
                                                                     tmp_path, capsys):
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main([str(beit_segmentation_artifact), *photos, "--output", str(local), "--side-by-side"]) == 0
    assert main([served_model(served, "grpc", "seg"), *photos, "--output", str(remote), "--side-by-side"]) == 0
    names = sorted(path.name for path in local.iterdir())
    assert names == ["a.png", "a.side-by-side.png", "b.png", "b.side-by-side.png"]
    assert sorted(path.name for path in remote.iterdir()) == names
    for name in names:
        assert np.array_equal(np.asarray(Image.open(remote / name)), np.asarray(Image.open(local / name))), name
    assert f"saved {remote / 'a.png'}" in capsys.readouterr().out


def test_served_embeddings_are_the_artifacts(served, beit_backbone_artifact, photos, tmp_path, capsys):
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main([str(beit_backbone_artifact), *photos, "--output", str(local)]) == 0
    assert main([served_model(served, "http", "feat"), *photos, "--output", str(remote)]) == 0
    for name in ("a.npy", "b.npy"):
        got, want = np.load(remote / name), np.load(local / name)
        assert got.shape == want.shape == (32,)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    assert "embedding dim 32" in capsys.readouterr().out


def test_served_attention_pictures_match_the_artifacts(served, beit_layer_outputs_artifact, photos, tmp_path):
    local, remote = tmp_path / "local", tmp_path / "remote"
    assert main([str(beit_layer_outputs_artifact), photos[0], "--attention-maps", str(local)]) == 0
    assert main([served_model(served, "http", "layers"), photos[0], "--attention-maps", str(remote)]) == 0
    names = sorted(path.name for path in local.iterdir())
    assert names == ["a.head0.png", "a.head1.png", "a.mean.png"]
    assert sorted(path.name for path in remote.iterdir()) == names
    for name in names:
        got, want = (np.asarray(Image.open(folder / name), dtype=np.int16) for folder in (remote, local))
        assert got.shape == want.shape and np.abs(got - want).max() <= 1, name


@pytest.mark.parametrize(("model", "extra", "message"), [
    ("", [], "a served model is named http://host:port/NAME or grpc://host:port/NAME"),
    ("cls", ["--precision", "int8", "--threads", "2"], "--precision, --threads choose the engine of a local artifact"),
    ("cls", ["--batch-size", "4"], "--batch-size chooses the engine of a local artifact"),
    ("cls", ["FOLDER", "--output", "OUT"], "is a served model: beit-run sends it image files named alone"),
    ("seg", ["--attention-maps", "OUT"], "Segmenter has no attention maps"),
    ("cls", ["--attention-maps", "OUT"], "was exported without the 'attentions' output"),
    ("layers", ["--attention-maps", "OUT", "--attention-layer", "0"], "holds the attentions of layers [1, 3]"),
    ("cls", ["--top-k", "6"], "--top-k 6: model 'cls' serves the top 5 classes"),
    ("cls", ["--top-k", "0"], "--top-k must be"),
    ("seg", ["--side-by-side"], "--side-by-side writes pictures: add --output DIR"),
])
def test_usage_errors_send_no_image(served, photos, tmp_path, capsys, model, extra, message):
    out = tmp_path / "out"
    extra = [str(tmp_path) if part == "FOLDER" else str(out) if part == "OUT" else part for part in extra]
    assert main([served_model(served, "http", model), photos[0], *extra]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == "" and not out.exists()


def test_a_server_that_cannot_answer_is_a_run_error(served, photos, beit_classifier_artifact, capsys):
    assert main([served_model(served, "http", "nope"), photos[0]]) == 1
    assert "the ready server does not list model 'nope' (it lists cls, cls_engine," in capsys.readouterr().err
    closed = f"http://127.0.0.1:{free_port()}/cls"
    assert main([closed, photos[0], "--server-timeout", "0.5"]) == 1
    assert "waited 0.5 s for model 'cls' to be ready" in capsys.readouterr().err
    assert main([str(beit_classifier_artifact), photos[0], "--server-timeout", "5"]) == 2
    assert "--server-timeout applies to a served model" in capsys.readouterr().err


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_an_image_that_does_not_decode_is_named_and_the_others_still_run(served, protocol, photos, tmp_path, capsys):
    broken = tmp_path / "in" / "broken.jpg"
    broken.write_bytes(b"<html>not found</html>")
    assert main([served_model(served, protocol, "cls"), photos[0], str(broken), photos[1], "--json"]) == 3
    captured = capsys.readouterr()
    assert f"beit-run: error: {broken} is not a decodable image" in captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]  # --json: the failure is a line too
    assert [record["image"] for record in records if "error" not in record] == photos
    assert [(record["image"], record["error"]) for record in records if "error" in record] == [
        (str(broken), "ImageDecodeError")]


def test_an_image_the_server_refuses_is_named_and_the_others_still_run(served, photos, tmp_path, capsys):
    """100 megapixels: Pillow here decodes it (its bomb error starts at twice its limit), the server refuses it
    from its header; the batch is then sent image by image."""
    huge = tmp_path / "in" / "huge.png"
    Image.new("L", (10_000, 10_000)).save(huge)
    assert main([served_model(served, "http", "cls"), photos[0], str(huge), photos[1], "--json"]) == 3
    captured = capsys.readouterr()
    assert f"beit-run: error: {huge}: " in captured.err and "over this server's limit" in captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]  # --json: the refusal is a line too
    assert [record["image"] for record in records if "error" not in record] == photos
    refused = [record for record in records if "error" in record]
    assert [record["image"] for record in refused] == [str(huge)] and "over this server's limit" in refused[0]["reason"]


def test_a_file_is_sent_as_its_own_bytes(served, photos, capsys, monkeypatch):
    from beit_runtime.remote import model as remote_model

    sent: list[bytes] = []
    encode = remote_model.encode_image

    def recorded(source, **options):
        sent.append(encode(source, **options))
        return sent[-1]

    monkeypatch.setattr(remote_model, "encode_image", recorded)
    assert main([served_model(served, "http", "cls"), photos[0], "--json"]) == 0
    assert sent == [Path(photos[0]).read_bytes()]  # the JPEG as it is, not re-encoded as a PNG


def test_served_model_addresses():
    assert is_served_model("http://127.0.0.1:8000/cls") and is_served_model("grpc://[::1]:8001/seg")
    assert not is_served_model("artifacts/http") and not is_served_model(str(Path("http://x").resolve()))
    assert split_served_model("grpc://host:8001/beit-base/") == ("grpc://host:8001", "beit-base")
    for wrong in ("http://host:8000", "http://host:8000/", "http://host:8000/a/b"):
        with pytest.raises(InputError, match="a served model is named"):
            split_served_model(wrong)
