"""``NAME_engine`` with ``--model-backend python``: the artifact's graph run by beit_runtime's task class.

For Triton builds without the onnxruntime backend (such as the CPU server ``beit-serve --setup``
installs). The task class (``Classifier``, ``Segmenter``, ...) is built on the artifact copied into
this model's folder, so the manifest and every file hash are checked at load, the graph variant is
the one ``--precision`` chose, and ``ArtifactModel.run`` casts inputs/outputs exactly as in-process.
All requests of a dynamic batch go through one engine run (grouped by shape when the graph takes
several image sizes) and are split back per request.
"""

from __future__ import annotations

import numpy as np
import triton_python_backend_utils as pb_utils  # noqa: F401  (present only inside Triton's python stub)

from ...classifier import Classifier
from ...errors import BeitDeployError
from ...features import FeatureExtractor
from ...manifest import load_manifest
from ...masked import MaskedImageModeler
from ...segmenter import Segmenter
from ..protocol import ARTIFACT_FOLDER, PARAMETER_INTRA_OP_THREADS, PARAMETER_PRECISION, PIXEL_VALUES
from .common import check_numpy, input_array, model_parameters, responses, version_folder

TASK_CLASSES = {
    "image-classification": Classifier,
    "backbone": FeatureExtractor,
    "masked-image-modeling": MaskedImageModeler,
    "semantic-segmentation": Segmenter,
}


def load_task_model(folder, *, precision: str, intra_op_threads: int, gpu: bool):
    """The artifact's task class on ONNX Runtime (CPU only unless the instance is a GPU one)."""
    task = load_manifest(folder, verify_files=False).task
    options = dict(precision=precision, backend="onnxruntime", intra_op_threads=intra_op_threads,
                   providers=None if gpu else ["CPUExecutionProvider"])
    if task == "semantic-segmentation":
        options["fused_postprocess"] = False  # NAME_postprocess runs it
    return TASK_CLASSES[task](folder, **options)


def run_grouped(model, feeds: list[dict[str, np.ndarray]]) -> list[dict[str, np.ndarray]]:
    """Run requests' feeds in as few engine calls as shapes allow; outputs split back per request."""
    results: list[dict[str, np.ndarray]] = [{} for _ in feeds]
    groups: dict[tuple, list[int]] = {}
    for index, feed in enumerate(feeds):
        groups.setdefault(tuple((name, value.shape[1:]) for name, value in sorted(feed.items())), []).append(index)
    for indices in groups.values():
        joined = {name: np.concatenate([feeds[i][name] for i in indices]) for name in feeds[indices[0]]}
        outputs = model.run(joined)
        bounds = np.cumsum([0] + [len(feeds[i][PIXEL_VALUES]) for i in indices])
        for index, start, stop in zip(indices, bounds[:-1], bounds[1:]):
            results[index] = {name: np.ascontiguousarray(value[start:stop]) for name, value in outputs.items()}
    return results


class TritonPythonModel:
    def initialize(self, args):
        check_numpy()
        parameters = model_parameters(args)
        self.model = load_task_model(
            version_folder(args) / ARTIFACT_FOLDER, precision=parameters.get(PARAMETER_PRECISION, "fp32"),
            intra_op_threads=int(parameters.get(PARAMETER_INTRA_OP_THREADS) or 0),
            gpu=args.get("model_instance_kind") == "GPU",
        )
        self.inputs = [spec.name for spec in self.model.engine.inputs]

    def execute(self, requests):
        feeds, failed = [], {}
        for index, request in enumerate(requests):
            try:
                feeds.append({name: input_array(request, name) for name in self.inputs})
            except BeitDeployError as error:
                failed[index] = error
        try:
            results = iter(run_grouped(self.model, feeds))
        except BeitDeployError as error:
            return responses([error] * len(requests), where="engine")
        return responses([failed.get(index) or next(results) for index in range(len(requests))], where="engine")

    def finalize(self):
        self.model.close()

