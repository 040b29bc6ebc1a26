"""Triton Inference Server model repositories from artifact folders (``beit-export triton``).

``write_repository(artifact, output, options=TritonRepositoryOptions(...))`` writes the repository
(``repository``); ``configs``/``engine_config`` build the model configs as data, ``pbtxt`` renders
them, ``vendoring`` copies beit_runtime into the python models, ``readme`` writes its README.
"""

from __future__ import annotations

from .options import MODEL_BACKENDS, TritonOptionsError, TritonRepositoryOptions
from .pbtxt import to_pbtxt
from .repository import repository_configs, write_repository

__all__ = ["MODEL_BACKENDS", "TritonOptionsError", "TritonRepositoryOptions", "repository_configs", "to_pbtxt",
           "write_repository"]
