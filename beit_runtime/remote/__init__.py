"""The library's Triton clients: the local task classes' calls against a served repository.

    from beit_runtime.remote import RemoteClassifier     # pip install "beit-deploy[triton]"
    with RemoteClassifier("127.0.0.1:8000", "beit-base") as classifier:   # or "grpc://127.0.0.1:8001"
        classifier("cat.jpg", top_k=3)

- ``clients``: ``RemoteClassifier``, ``RemoteSegmenter``, ``RemoteFeatureExtractor``;
- ``model``: ``RemoteModel``, their base (wait-for-ready with ``ready_timeout_s``, the task check,
  ``model_version`` / ``served_version()``, ``request`` for arbitrary named tensors);
- ``connect``: ``connect("http://host:port/NAME")``, the client of whatever task the served model runs
  (``beit-run http://host:port/NAME IMAGE...``);
- ``readiness``: polling the model's readiness with a timeout;
- ``transport``: tritonclient over HTTP or gRPC; ``failures``: every error it meets as a typed
  beit_runtime error (``ServerError``, ``ServerUnavailableError``, ``ServerTimeoutError``,
  ``InputError``, ``ArtifactError``, or the class a python model tagged).

The names shared with the repository writer and the python models are in ``beit_runtime.serving_protocol``;
the server side is ``beit_runtime.serving`` (``beit-serve``) and ``beit_runtime.triton_models``.
Nothing here imports torch, transformers or beit_export; tritonclient is imported only when a client
is made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import ServerError, ServerTimeoutError, ServerUnavailableError

if TYPE_CHECKING:  # type checkers read the classes here; at run time they load on first use (``__getattr__``)
    from .clients import RemoteClassifier, RemoteFeatureExtractor, RemoteSegmenter
    from .model import RemoteModel

__all__ = ["RemoteClassifier", "RemoteFeatureExtractor", "RemoteModel", "RemoteSegmenter", "ServerError",
           "ServerTimeoutError", "ServerUnavailableError"]


if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name in ("RemoteClassifier", "RemoteFeatureExtractor", "RemoteSegmenter"):
            from . import clients

            return getattr(clients, name)
        if name == "RemoteModel":
            from .model import RemoteModel

            return RemoteModel
        raise AttributeError(f"module 'beit_runtime.remote' has no attribute {name!r}")
