"""Serving with NVIDIA Triton Inference Server: clients, the ``beit-serve`` launcher, the python backend.

- ``RemoteClassifier`` / ``RemoteSegmenter`` / ``RemoteFeatureExtractor`` (``client``): the local task
  classes' call signatures against a served repository (``pip install "beit-deploy[triton]"``);
- ``beit-serve`` (``server``, ``launcher``, ``install``): set up a CPU Triton server and its Python
  environment, and run a repository written by ``beit-export triton``;
- ``backend``: the ``TritonPythonModel`` classes that the repository's python models run;
- ``protocol``: the names both sides agree on (models, tensors, config parameters, error tags).

Nothing here imports torch, transformers or beit_export; tritonclient is imported only when a client
is made.
"""

from __future__ import annotations

__all__ = ["RemoteClassifier", "RemoteFeatureExtractor", "RemoteSegmenter", "ServerError", "ServerUnavailableError"]


def __getattr__(name: str):
    if name in ("RemoteClassifier", "RemoteFeatureExtractor", "RemoteSegmenter"):
        from . import client

        return getattr(client, name)
    if name in ("ServerError", "ServerUnavailableError"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'beit_runtime.triton' has no attribute {name!r}")
