"""``RemoteModel``: a served repository's ensemble, reached over HTTP or gRPC once it is ready.

URLs: ``host:port`` or ``http://host:port`` (HTTP), ``grpc://host:port`` (gRPC). The constructor waits up to
``ready_timeout_s`` for the model to be ready (``readiness``), checks that it serves the task of the class (the
registry's ``Task.remote_class`` names the class of each task), and reads the labels and the top-k.
``model_version`` pins a Triton model version ("": the server's newest); ``served_version()`` says which version
answers. Images are sent as encoded bytes, one image per request (Triton's dynamic batcher groups requests from
every client; a request holds one tensor, and label maps differ in size per image), up to ``max_in_flight`` at once.
Encoded bytes, files and open binary files (one image each, read into their bytes when the call starts, as the local
classes read them: ``image_batches.image_list``) are sent as they are, so the server decodes them exactly as
``load_image`` does in-process; arrays and PIL images are first turned into the RGB array ``load_image`` makes here,
then sent as lossless PNG. Each image is read or encoded only when its request is sent (``Transport.infer_iter``),
so a call holds at most ``max_in_flight`` encoded images, however many it is given (every file is checked to exist
first). After ``close()`` (or the end of a ``with`` block) every call raises ``ModelClosedError``.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
from PIL import Image

from ..errors import ArtifactError, ImageDecodeError, InputError
from ..image_batches import image_list
from ..images import check_channel_order, load_image
from ..serving_protocol import IMAGE_INPUT, PARAMETER_LABELS, PARAMETER_TASK, PARAMETER_VERSION
from ..tasks import TASKS, Task
from .readiness import wait_until_ready
from .transport import Outputs, Transport

_Remote = TypeVar("_Remote", bound="RemoteModel")
DEFAULT_READY_TIMEOUT_S = 120.0  # a large model's python engine can take a minute to load on a busy CPU


def encode_image(source: Any, *, channel_order: str = "rgb") -> bytes:
    """What to send for one image: encoded bytes and files as they are, anything else as lossless PNG."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    if isinstance(source, (str, os.PathLike)):
        check_files([source])
        return Path(source).read_bytes()
    buffer = io.BytesIO()
    Image.fromarray(load_image(source, channel_order=channel_order)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def check_files(items: Sequence[Any]) -> None:
    """ImageDecodeError for the first path among ``items`` that is not a file (before any request is sent)."""
    for item in items:
        if isinstance(item, (str, os.PathLike)) and not Path(item).is_file():
            raise ImageDecodeError(f"image file {item} does not exist or is not a file; check the path")


def image_name(source: Any, *, index: int, single: bool) -> str:
    """How an error names one of the images sent: its file, else its place among the images given."""
    if isinstance(source, (str, os.PathLike)):
        return f"image {source}"
    return "the image" if single else f"images[{index}]"


def remote_task(class_name: str) -> Task | None:
    """The registry entry whose ``remote_class`` is ``class_name`` (None: not a task's remote class)."""
    return next((entry for entry in TASKS.values() if entry.remote_class == class_name), None)


class RemoteModel:
    """A served repository's ensemble; each subclass named by a task's ``remote_class`` serves that task."""

    task: ClassVar[str] = ""
    outputs: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        entry = remote_task(cls.__name__)
        if entry is not None:
            cls.task, cls.outputs = entry.name, entry.served_output_names

    def __init__(self, url: str, name: str, *, timeout_s: float = 60.0, max_in_flight: int = 8,
                 ready_timeout_s: float = DEFAULT_READY_TIMEOUT_S, model_version: str = "") -> None:
        if isinstance(ready_timeout_s, bool) or not isinstance(ready_timeout_s, (int, float)) or ready_timeout_s < 0:
            raise InputError(f"ready_timeout_s must be a number of seconds >= 0, got {ready_timeout_s!r}")
        self.name = name
        self.model_version = str(model_version)  # what every call asks for; "" lets the server choose (its newest)
        self.transport = Transport(url, timeout_s=timeout_s, max_in_flight=max_in_flight)
        try:
            self.ready_after_s = wait_until_ready(self.transport, name, version=self.model_version,
                                                  timeout_s=ready_timeout_s)
            self.parameters = self._check_served()
        except BaseException:
            self.transport.close()
            raise
        self.labels = {int(k): v for k, v in json.loads(self.parameters.get(PARAMETER_LABELS) or "{}").items()}

    def _check_served(self) -> dict[str, str]:
        config = self.transport.model_config(self.name, self.model_version)
        parameters = {key: value.get("string_value", "") for key, value in (config.get("parameters") or {}).items()}
        served = parameters.get(PARAMETER_TASK)
        if served != self.task:
            entry = TASKS.get(served or "")
            hint = (f"use {entry.remote_class}" if entry is not None and entry.remote_class
                    else "serve a repository written by `beit-export triton`")
            raise ArtifactError(f"model '{self.name}' at {self.transport.url} serves task {served!r}, "
                                f"{type(self).__name__} needs '{self.task}' ({hint})")
        return parameters

    def served_version(self) -> str:
        """The Triton version of the model that answers this client's calls (asked of the server now)."""
        self.check_open()
        versions = self.transport.model_versions(self.name, self.model_version)
        return self.model_version or max(versions, key=lambda item: int(item) if item.isdigit() else -1, default="")

    @property
    def beit_deploy_version(self) -> str:
        """The beit-deploy version that wrote the served repository ("" when the ensemble does not say)."""
        return self.parameters.get(PARAMETER_VERSION, "")

    def close(self) -> None:
        self.transport.close()

    def check_open(self) -> None:
        """ModelClosedError once ``close()`` was called."""
        self.transport.check_open(owner=f"{type(self).__name__} of model '{self.name}'")

    def __enter__(self: _Remote) -> _Remote:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.transport.url!r}, {self.name!r})"

    def request(self, inputs: Mapping[str, np.ndarray], *, outputs: Sequence[str] | None = None) -> Outputs:
        """One inference with the given named tensors (object arrays are BYTES); its outputs."""
        self.check_open()
        wanted = list(outputs or self.outputs)
        return self.transport.infer_many(self.name, [inputs], wanted, version=self.model_version)[0]

    def infer_images(self, images: Any, *, channel_order: str = "rgb",
                     outputs: Sequence[str] | None = None) -> tuple[list[Outputs], bool]:
        """(per image: the ensemble's outputs for that one image (``outputs``: these instead of the task's),
        whether one image was given)."""
        self.check_open()
        check_channel_order(channel_order)
        items, single = image_list(images)  # as the local task classes read it
        check_files(items)
        requests = _image_requests(items, channel_order=channel_order)  # encoded as they are sent
        wanted = list(outputs or self.outputs)
        names = [image_name(item, index=index, single=single) for index, item in enumerate(items)]
        return self.transport.infer_many(self.name, requests, wanted, version=self.model_version, names=names), single


def _image_requests(items: Sequence[Any], *, channel_order: str) -> Iterator[dict[str, np.ndarray]]:
    """One request per image, each encoded when it is drawn."""
    for item in items:
        yield {IMAGE_INPUT: np.array([[encode_image(item, channel_order=channel_order)]], dtype=object)}
