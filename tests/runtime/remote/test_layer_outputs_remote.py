"""RemoteClassifier's hidden_states / attentions / attention_maps against a real Triton server (issue 18): equal to
the in-process Classifier's on real photos over HTTP and gRPC; a repository without them names the export flag."""

from __future__ import annotations

import io

import numpy as np
import pytest

from beit_runtime import Classifier
from beit_runtime.errors import InputError, OutputUnavailableError
from beit_runtime.remote import RemoteClassifier

PROTOCOLS = ("http", "grpc")


def url(served, protocol: str) -> str:
    return served.http if protocol == "http" else f"grpc://{served.grpc}"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_served_layer_outputs_equal_the_in_process_ones(served, protocol, beit_layer_outputs_artifact, photo_bytes):
    with RemoteClassifier(url(served, protocol), "layers") as remote, \
            Classifier(beit_layer_outputs_artifact, batch_size=1) as local:
        np.testing.assert_allclose(remote.hidden_states(photo_bytes), local.hidden_states(photo_bytes), atol=1e-5)
        np.testing.assert_allclose(remote.attentions(photo_bytes[0]), local.attentions(photo_bytes[0]), atol=1e-6)
        for got, want in zip(remote.attention_maps(photo_bytes[:2]), local.attention_maps(photo_bytes[:2]),
                             strict=True):
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, atol=1e-6)
        from_iterator = remote.attention_maps(iter(photo_bytes[:2]))  # an iterator is a batch, read once
        assert [got.shape for got in from_iterator] == [want.shape for want in local.attention_maps(photo_bytes[:2])]
        predictions = remote(photo_bytes[0], top_k=2)  # the task's outputs, without the layer outputs
        assert [p.id for p in predictions] == [p.id for p in local(photo_bytes[0], top_k=2)]
        with pytest.raises(OutputUnavailableError, match=r"layers \[1, 3\]"):
            remote.attention_maps(photo_bytes[0], layer=0)


def test_a_repository_without_them_names_the_flag(served, photo_bytes):
    with RemoteClassifier(served.http, "cls") as remote:
        with pytest.raises(OutputUnavailableError, match="--outputs hidden_states"):
            remote.hidden_states(photo_bytes[0])
        with pytest.raises(OutputUnavailableError, match="--outputs attentions"):
            remote.attention_maps(photo_bytes[0])


def test_a_layer_the_model_lacks_is_an_input_error_and_an_open_file_is_one_image(served, beit_layer_outputs_artifact,
                                                                                  photo_bytes, tmp_path):
    """As in-process: a layer outside the model's 4 is a bad argument naming the valid range (it was an
    OutputUnavailableError saying to re-export), and an open binary file is one image (one result)."""
    path = tmp_path / "photo.jpg"
    path.write_bytes(photo_bytes[0])
    with RemoteClassifier(served.http, "layers") as remote, \
            Classifier(beit_layer_outputs_artifact, batch_size=1) as local:
        for layer in (4, -5):
            with pytest.raises(InputError, match=rf"layer {layer} is not an encoder layer: the model has 4 "
                                                 r"\(0 to 3, or -4 to -1 from the last\)"):
                remote.attention_maps(photo_bytes[0], layer=layer)
        with pytest.raises(InputError, match=r"layer must be a whole number \(0 to 3, .*got 1\.0"):
            remote.attention_maps(photo_bytes[0], layer=1.0)
        with path.open("rb") as opened:
            one = remote.attention_maps(opened, layer=-1)
        np.testing.assert_allclose(one, local.attention_maps(photo_bytes[0], layer=-1), atol=1e-6)
        predictions = remote(io.BytesIO(photo_bytes[1]), top_k=2)
        assert [p.id for p in predictions] == [p.id for p in local(photo_bytes[1], top_k=2)]
