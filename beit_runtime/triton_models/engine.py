"""``NAME_engine`` with ``--model-backend python``: the artifact's graph run by beit_runtime's task class.

For Triton builds without the onnxruntime backend (such as the CPU server ``beit-serve --setup``
installs). The task class (the registry's ``Task.runtime_class``: ``Classifier``, ``Segmenter``, ...)
is built on the artifact copied into this model's folder, so the manifest and every file hash are
checked at load, the graph variant is the one ``--precision`` chose, and ``ArtifactModel.run`` casts
inputs/outputs exactly as in-process. All requests of a dynamic batch go through one engine run
(grouped by shape when the graph takes several image sizes) and are split back per request.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils  # noqa: F401  (present only inside Triton's python stub)

import beit_runtime

from ..errors import BeitDeployError
from ..manifest import load_manifest
from ..serving_protocol import (
    ARTIFACT_FOLDER,
    PARAMETER_FUSED_ATTENTION,
    PARAMETER_INTRA_OP_THREADS,
    PARAMETER_PLAN,
    PARAMETER_PRECISION,
    PIXEL_VALUES,
    at_image_size,
)
from ..tasks import task
from .common import check_finite, check_numpy, input_array, model_parameters, responses, version_folder

Feeds = dict[str, np.ndarray]


def load_task_model(folder: Path, *, precision: str, intra_op_threads: int, gpu: bool, plan: Path | None = None,
                    fused_attention: bool = False) -> Any:
    """The artifact's task class (CPU only unless the instance is a GPU one); precision "auto" follows ``plan``
    (or the server user's cached plan) when it was made on this machine, else runs fp32; ``fused_attention``
    runs the fp16-fused graph."""
    entry = task(load_manifest(folder, verify_files=False).task)
    auto = precision == "auto"
    options: dict[str, Any] = {"precision": precision, "backend": "auto" if auto else "onnxruntime",
                               "intra_op_threads": intra_op_threads, "plan": plan if auto else None,
                               "providers": None if gpu else ["CPUExecutionProvider"],
                               "fused_attention": fused_attention}
    if at_image_size(entry):
        options["fused_postprocess"] = False  # NAME_postprocess brings the logits to each image's size
    return getattr(beit_runtime, entry.runtime_class)(folder, **options)


def run_grouped(model: Any, feeds: Sequence[Mapping[str, np.ndarray]]) -> list[Feeds]:
    """Run requests' feeds in as few engine calls as shapes allow; outputs split back per request."""
    results: list[Feeds] = [{} for _ in feeds]
    groups: dict[tuple[tuple[str, tuple[int, ...]], ...], list[int]] = {}
    for index, feed in enumerate(feeds):
        groups.setdefault(tuple((name, value.shape[1:]) for name, value in sorted(feed.items())), []).append(index)
    for indices in groups.values():
        joined = {name: np.concatenate([feeds[i][name] for i in indices]) for name in feeds[indices[0]]}
        outputs = model.run(joined)
        bounds = np.cumsum([0] + [len(feeds[i][PIXEL_VALUES]) for i in indices])
        for index, start, stop in zip(indices, bounds[:-1], bounds[1:], strict=True):
            results[index] = {name: np.ascontiguousarray(value[start:stop]) for name, value in outputs.items()}
    return results


class TritonPythonModel:
    def initialize(self, args: Mapping[str, str]) -> None:
        check_numpy()
        parameters = model_parameters(args)
        plan_name = parameters.get(PARAMETER_PLAN)
        self.model = load_task_model(
            version_folder(args) / ARTIFACT_FOLDER, precision=parameters.get(PARAMETER_PRECISION, "fp32"),
            intra_op_threads=int(parameters.get(PARAMETER_INTRA_OP_THREADS) or 0),
            gpu=args.get("model_instance_kind") == "GPU",
            plan=version_folder(args) / plan_name if plan_name else None,
            fused_attention=parameters.get(PARAMETER_FUSED_ATTENTION) == "true",
        )
        print(f"[beit_runtime] {args.get('model_name')}: running {self.model!r}", file=sys.stderr, flush=True)
        self.inputs = [spec.name for spec in self.model.engine.inputs]

    def execute(self, requests: Sequence[Any]) -> list[Any]:
        feeds: list[Feeds] = []
        failed: dict[int, BaseException] = {}
        for index, request in enumerate(requests):
            try:
                feeds.append({name: check_finite(name, input_array(request, name)) for name in self.inputs})
            except BeitDeployError as error:
                failed[index] = error
        try:
            results: list[Feeds | BaseException] = list(run_grouped(self.model, feeds))
        except Exception:  # one request's tensors must not fail the others batched with it: run each alone
            results = [self._alone(feed) for feed in feeds]
        answers = iter(results)
        return responses([failed.get(index) or next(answers) for index in range(len(requests))], where="engine")

    def _alone(self, feed: Feeds) -> Feeds | BaseException:
        try:
            return run_grouped(self.model, [feed])[0]
        except Exception as error:
            return error

    def finalize(self) -> None:
        self.model.close()
