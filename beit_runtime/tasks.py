"""The task registry: everything beit-deploy knows about a task, described once, as data.

Every part of the project that behaves differently per task reads it from here: the exporter (graph
inputs and outputs, which transformers classes carry the task, which head weights name it, whether the
checkpoint's labels are kept, which post-processing it records and writes as a graph), the parity gate
(which tolerance kind each output is judged by), the runtime (which task class runs an artifact, which
``beit-run`` handler prints it, how ``evaluate`` and ``tune`` score it and by which headline figure),
the Triton repository writer, the python models inside Triton and the remote clients (what the
ensemble serves), and the benchmarks (how an end-to-end row is fed and finished, which goals judge
it). Adding a field to every task means adding it to ``Task`` and to the four entries below; nothing
else holds a per-task table. The exporter adds to an entry only what needs torch (``beit_export.tasks``:
detecting the task of a loaded module, finding its encoder).

This module imports nothing but the standard library, so the torch-free runtime, the code that runs
inside Triton's python stub and the benchmarks all share it.

Axis entries of a ``TensorSpec`` are ints for fixed sizes and the strings "batch", "height", "width"
(dynamic) or "num_channels", "num_patches", "sequence", "num_labels", "hidden_size", "vocab_size",
"label_height", "label_width", "hidden_layers", "attention_layers", "num_heads" (fixed per model, resolved by
the exporter from the config and the export options).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import InputError


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: its name, numpy dtype name and axes."""

    name: str
    dtype: str
    axes: tuple[int | str, ...]


@dataclass(frozen=True)
class ServedTensor:
    """One output of the Triton ensemble for a task: name, Triton datatype, dims ("k", "H", "W", "D")."""

    name: str
    datatype: str
    dims: tuple[str, ...]
    meaning: str


@dataclass(frozen=True)
class Task:
    """A task, as every part of beit-deploy sees it.

    ``runtime_class`` and ``remote_class`` are the names of the ``beit_runtime`` classes that run it
    (``None``: not served as an ensemble, only as the bare engine). ``tolerance_kinds`` maps each graph
    output (and the segmentation post-processing graph's ``labels``) to its parity tolerance kind
    (``beit_export.parity.tolerances``). ``benchmark_end_to_end``: the benchmarks time the task class
    from encoded images to results; else the engine alone, fed by ``benchmark_feed``.
    """

    name: str
    runtime_class: str
    hf_classes: Mapping[str, str]  # model_type ("beit", "vit", "deit") -> the transformers class carrying the task
    graph_inputs: tuple[TensorSpec, ...]
    graph_outputs: tuple[TensorSpec, ...]
    tolerance_kinds: Mapping[str, str]
    labelled: bool  # the checkpoint's id2label goes into the manifest
    # what a folder run (``beit_runtime.bulk``) writes for each image: "top-k" (labels and scores in results.jsonl),
    # "label-map" (a PNG label map per image), "pooled-embedding" (.npy shards),
    # "visual-tokens" (token ids in results.jsonl)
    folder_output: str
    served_outputs: tuple[ServedTensor, ...] = ()
    remote_class: str | None = None
    benchmark_feed: str = "pixel_values"  # "pixel_values" or "pixel_values+bool_masked_pos"
    benchmark_end_to_end: bool = True
    benchmark_batch_sizes: tuple[int, ...] = (1, 8)
    # how the benchmarks' PyTorch reference finishes an end-to-end call: "top-k", "label-map",
    # "pooled-embedding"; None when the task is timed engine-only
    benchmark_postprocess: str | None = None
    # the task class can feed uint8 pixels to a graph that normalises them itself (RunOptions.device_normalisation);
    # segmentation's sliding window pads and crops normalised tensors, so it feeds float pixel_values only
    device_normalisation: bool = True
    summary: str = field(default="")
    # graph outputs an export adds only on request (``beit-export --outputs``), their tolerance kinds in
    # ``tolerance_kinds``; ``default_attention_layers`` is what ``--attention-layers`` means when not given
    optional_outputs: tuple[TensorSpec, ...] = ()
    default_attention_layers: str = "all"
    # further transformers classes carrying the task, exported when a checkpoint names them but never chosen for a
    # config without "architectures" (hf_classes' class is): DeiT's distilled classifier, logits = mean of 2 heads
    more_hf_classes: tuple[str, ...] = ()
    # what ``beit-run evaluate`` and ``beit-run tune --data`` score the task's results by (one of EVALUATIONS,
    # ``beit_runtime.evaluation.scoring``); None: the task is not evaluated
    evaluation: str | None = None
    # the figures of that evaluation besides "agreement", the headline (``headline_metric``) first
    evaluation_metrics: tuple[str, ...] = ()
    # the exporter writes the fused post-processing graph (``postprocess.onnx``: logits -> resize -> argmax) and
    # records its resize in the manifest's postprocessing; the task class runs it with ``fused_postprocess=True``
    postprocess_graph: bool = False
    # the manifest's postprocessing records the score function of the logits ("score", one of SCORE_FUNCTIONS)
    scored_logits: bool = False
    # the head is UperNet over several encoder layers: the exporter rewrites it (``beit_export.modeling.segmentation``)
    upernet_head: bool = False
    # the first name part of the task head's weights in a checkpoint: what shows the task of one whose config.json
    # names no architecture (``beit_export.checkpoint.weights``)
    head_weights: tuple[str, ...] = ()
    # the goals the benchmark report judges the task's rows by (``benchmarks.report.analysis``): "cpu" (fp32 % of
    # sgemm, ONNX vs eager, int8 and bf16 vs fp32, at each batch size), "int8-batch-1" (int8 vs fp32 at batch 1)
    benchmark_goals: str = "cpu"

    @property
    def headline_metric(self) -> str:
        """The figure an evaluation of the task is judged by (``tune``'s accuracy drop, the report's plot):
        its first metric, "agreement" (with fp32's decisions) when it has none."""
        return self.evaluation_metrics[0] if self.evaluation_metrics else "agreement"

    @property
    def all_hf_classes(self) -> tuple[str, ...]:
        """Every transformers class carrying this task: ``hf_classes``' then ``more_hf_classes``."""
        return (*self.hf_classes.values(), *self.more_hf_classes)

    @property
    def inputs(self) -> tuple[TensorSpec, ...]:
        """``graph_inputs``, under the name the exporter's graph code reads."""
        return self.graph_inputs

    @property
    def outputs(self) -> tuple[TensorSpec, ...]:
        """``graph_outputs``, under the name the exporter's graph code reads."""
        return self.graph_outputs

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.graph_inputs]

    @property
    def output_names(self) -> list[str]:
        return [spec.name for spec in self.graph_outputs]

    @property
    def served(self) -> bool:
        """Whether ``beit-export triton`` writes the preprocess/postprocess ensemble for this task."""
        return bool(self.served_outputs)

    @property
    def served_output_names(self) -> tuple[str, ...]:
        return tuple(tensor.name for tensor in self.served_outputs)


PIXEL_VALUES = TensorSpec("pixel_values", "float32", ("batch", "num_channels", "height", "width"))
BOOL_MASKED_POS = TensorSpec("bool_masked_pos", "bool", ("batch", "num_patches"))
# the embeddings and each layer's output (``output_hidden_states=True``), and each exported layer's attention
# weights (``output_attentions=True``), stacked on axis 1
HIDDEN_STATES = TensorSpec("hidden_states", "float32", ("batch", "hidden_layers", "sequence", "hidden_size"))
ATTENTIONS = TensorSpec("attentions", "float32", ("batch", "attention_layers", "num_heads", "sequence", "sequence"))
OPTIONAL_OUTPUTS = (HIDDEN_STATES, ATTENTIONS)
OPTIONAL_KINDS = {"hidden_states": "hidden_states", "attentions": "attention_weights"}
# how a classifier's logits become its scores (the manifest's postprocessing "score", chosen at export as
# transformers' image-classification pipeline chooses it): softmax over classes (single-label), sigmoid per class
# (multi-label, or a single logit), none (regression: the logits themselves); a manifest without it means softmax
SCORE_FUNCTIONS = ("softmax", "sigmoid", "none")
DEFAULT_SCORE_FUNCTION = "softmax"
# what an evaluation scores: "classification" (class ids: ImageFolder data, top-1/top-5), "segmentation" (label
# maps: images/ + masks/, mIoU and pixel accuracy), "embedding" (any images: the nearest neighbour each finds
# and cosine similarity, against fp32)
EVALUATIONS = ("classification", "segmentation", "embedding")

_TASKS = (
    Task(
        name="backbone",
        runtime_class="FeatureExtractor",
        remote_class="RemoteFeatureExtractor",
        hf_classes={"beit": "BeitModel", "vit": "ViTModel", "deit": "DeiTModel"},
        graph_inputs=(PIXEL_VALUES,),
        graph_outputs=(
            TensorSpec("last_hidden_state", "float32", ("batch", "sequence", "hidden_size")),
            TensorSpec("pooler_output", "float32", ("batch", "hidden_size")),
        ),
        tolerance_kinds={"last_hidden_state": "hidden_states", "pooler_output": "hidden_states", **OPTIONAL_KINDS},
        labelled=False,
        folder_output="pooled-embedding",
        served_outputs=(ServedTensor("embedding", "FP32", ("D",), "the pooled embedding"),),
        benchmark_postprocess="pooled-embedding",
        device_normalisation=True,
        summary="pooled embeddings (patch tokens on request)",
        optional_outputs=OPTIONAL_OUTPUTS,
        evaluation="embedding",
    ),
    Task(
        name="image-classification",
        runtime_class="Classifier",
        remote_class="RemoteClassifier",
        hf_classes={"beit": "BeitForImageClassification", "vit": "ViTForImageClassification",
                    "deit": "DeiTForImageClassification"},
        more_hf_classes=("DeiTForImageClassificationWithTeacher",),
        graph_inputs=(PIXEL_VALUES,),
        graph_outputs=(TensorSpec("logits", "float32", ("batch", "num_labels")),),
        tolerance_kinds={"logits": "logits", **OPTIONAL_KINDS},
        labelled=True,
        folder_output="top-k",
        served_outputs=(
            ServedTensor("labels", "STRING", ("k",), "class names, best first"),
            ServedTensor("scores", "FP32", ("k",), "scores (the manifest's score function), best first"),
            ServedTensor("class_ids", "INT32", ("k",), "class ids, best first"),
        ),
        benchmark_postprocess="top-k",
        device_normalisation=True,
        summary="top-k labels and scores",
        optional_outputs=OPTIONAL_OUTPUTS,
        evaluation="classification",
        evaluation_metrics=("top1", "top5"),
        scored_logits=True,
        head_weights=("classifier", "cls_classifier", "distillation_classifier"),
    ),
    Task(
        name="masked-image-modeling",
        runtime_class="MaskedImageModeler",
        hf_classes={"beit": "BeitForMaskedImageModeling"},
        graph_inputs=(PIXEL_VALUES, BOOL_MASKED_POS),
        graph_outputs=(TensorSpec("logits", "float32", ("batch", "num_patches", "vocab_size")),),
        tolerance_kinds={"logits": "logits", **OPTIONAL_KINDS},
        labelled=False,
        folder_output="visual-tokens",
        benchmark_feed="pixel_values+bool_masked_pos",
        benchmark_end_to_end=False,
        device_normalisation=True,
        summary="visual token ids per patch",
        optional_outputs=OPTIONAL_OUTPUTS,
        head_weights=("lm_head",),
    ),
    Task(
        name="semantic-segmentation",
        runtime_class="Segmenter",
        remote_class="RemoteSegmenter",
        hf_classes={"beit": "BeitForSemanticSegmentation"},
        graph_inputs=(PIXEL_VALUES,),
        graph_outputs=(TensorSpec("logits", "float32", ("batch", "num_labels", "label_height", "label_width")),),
        tolerance_kinds={"logits": "segmentation_logits", "labels": "label_map", **OPTIONAL_KINDS},
        labelled=True,
        folder_output="label-map",
        served_outputs=(ServedTensor("segmentation", "INT32", ("H", "W"), "class ids at the image's own size"),),
        benchmark_batch_sizes=(1,),
        benchmark_postprocess="label-map",
        device_normalisation=False,
        summary="label maps at the image's own size",
        optional_outputs=OPTIONAL_OUTPUTS,
        default_attention_layers="last",  # 640 inputs: 1,601 tokens, ~1.5 GB of fp32 attentions per image for 12 layers
        evaluation="segmentation",
        evaluation_metrics=("miou", "pixel_accuracy"),
        postprocess_graph=True,
        upernet_head=True,
        head_weights=("decode_head", "auxiliary_head"),
        benchmark_goals="int8-batch-1",
    ),
)

TASKS: Mapping[str, Task] = MappingProxyType({task.name: task for task in _TASKS})
TASK_NAMES: tuple[str, ...] = tuple(TASKS)


def task(name: str) -> Task:
    """The registry entry for ``name``; InputError naming the known tasks otherwise."""
    entry = TASKS.get(name)
    if entry is None:
        raise InputError(f"unknown task {name!r}: expected one of {', '.join(TASK_NAMES)}")
    return entry


def task_for_hf_class(class_name: str) -> Task | None:
    """The task a transformers class carries natively (``BeitForImageClassification`` -> classification)."""
    for entry in _TASKS:
        if class_name in entry.all_hf_classes:
            return entry
    return None


def hf_class_names() -> list[str]:
    """Every transformers class beit-deploy exports, sorted."""
    return sorted(name for entry in _TASKS for name in entry.all_hf_classes)
