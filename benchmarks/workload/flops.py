"""Analytic FLOP count of a BEiT/ViT forward pass, from its config (not a FLOP counter).

We count multiply-accumulates (MACs) of every matrix product and convolution and report
FLOPs = 2 x MACs. Layer norms, softmax, GELU, bias/residual adds, pooling, upsampling and
argmax are not counted (they are < 1% of the total for these models). With ``P`` patches
(``(H/p) x (W/p)``), ``N = P + 1`` tokens, hidden size ``D``, MLP size ``I``, ``L`` layers:

- patch embedding conv: ``P * D * C * p^2``
- per layer: Q, K, V and output projections ``4 * N * D^2``; attention scores ``Q K^T`` and
  ``softmax(.) V``: ``2 * N^2 * D``; MLP: ``2 * N * D * I``
- classification head ``D * num_labels``; masked-image-modeling head ``P * D * vocab_size``
- semantic segmentation (UperNet head on a ``g x g`` feature grid, ``g = H/p``; channels = D):
  fpn1 two 2x2 transposed convs (g -> 2g -> 4g), fpn2 one (g -> 2g), pyramid pooling 1x1 convs
  at ``s x s`` per pool scale and its 3x3 bottleneck at ``g/2``, 1x1 laterals and 3x3 FPN convs
  at 4g, 2g and g, the 3x3 fpn bottleneck (4D -> D) at 4g and the 1x1 classifier at 4g. The
  auxiliary FCN head is not counted: the exported graph drops it.

BEiT-base/16 at 224 gives 17.6 GMACs (35.1 GFLOPs); BEiT-base + UperNet at 640 about 960 GMACs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from beit_runtime.tasks import task as task_entry


def encoder_macs(config: Mapping[str, Any], *, height: int, width: int) -> dict[str, int]:
    patch = int(config["patch_size"])
    hidden = int(config["hidden_size"])
    patches = (height // patch) * (width // patch)
    tokens = patches + 1
    layers = int(config["num_hidden_layers"])
    channels = int(config.get("num_channels", 3))
    return {
        "patch_embedding": patches * hidden * channels * patch * patch,
        "qkvo_projections": layers * 4 * tokens * hidden * hidden,
        "attention_matmuls": layers * 2 * tokens * tokens * hidden,
        "mlp": layers * 2 * tokens * hidden * int(config["intermediate_size"]),
    }


def upernet_macs(config: Mapping[str, Any], *, height: int, width: int) -> dict[str, int]:
    patch = int(config["patch_size"])
    d2 = int(config["hidden_size"]) ** 2
    gh, gw = height // patch, width // patch
    area = {scale: (gh * scale) * (gw * scale) for scale in (1, 2, 4)}
    half = (gh // 2) * (gw // 2)
    scales = [int(s) for s in config.get("pool_scales", (1, 2, 3, 6))]
    labels = _num_labels(config)
    return {
        "fpn_upsampling": d2 * 4 * (area[1] + area[2] + area[1]),
        "pyramid_pooling": d2 * sum(s * s for s in scales) + (1 + len(scales)) * d2 * 9 * half,
        "laterals": d2 * (area[4] + area[2] + area[1]),
        "fpn_convs": d2 * 9 * (area[4] + area[2] + area[1]),
        "fpn_bottleneck": 4 * d2 * 9 * area[4],
        "classifier": int(config["hidden_size"]) * labels * area[4],
    }


def _num_labels(config: Mapping[str, Any]) -> int:
    if config.get("id2label"):
        return len(config["id2label"])
    return int(config.get("num_labels", 2))


def head_macs(config: Mapping[str, Any], *, task: str, height: int, width: int) -> dict[str, int]:
    """MACs of the task's head, read off the shape of its first graph output (``beit_runtime.tasks``):
    per-pixel labels -> the UperNet head; a vocabulary per patch -> the masked-image-modeling head;
    labels per image -> the classifier; hidden states (the backbone) -> no head."""
    axes = task_entry(task).graph_outputs[0].axes
    hidden = int(config["hidden_size"])
    if "label_height" in axes:
        return upernet_macs(config, height=height, width=width)
    if "vocab_size" in axes:
        patches = (height // int(config["patch_size"])) * (width // int(config["patch_size"]))
        return {"head": patches * hidden * int(config.get("vocab_size", 8192))}
    if "num_labels" in axes:
        return {"head": hidden * _num_labels(config)}
    return {}


def model_macs(config: Mapping[str, Any], *, task: str, height: int, width: int) -> dict[str, int]:
    """MACs per image, broken down by part; ``task`` is the artifact's task name."""
    return {**encoder_macs(config, height=height, width=width),
            **head_macs(config, task=task, height=height, width=width)}


def model_flops(config: Mapping[str, Any], *, task: str, height: int, width: int) -> float:
    """FLOPs (2 x MACs) for one image."""
    return 2.0 * sum(model_macs(config, task=task, height=height, width=width).values())


def gemm_shapes(config: Mapping[str, Any], *, height: int, width: int, batch: int) -> list[tuple[int, int, int]]:
    """The (M, K, N) shapes of one encoder layer's linear layers at this batch size."""
    patch = int(config["patch_size"])
    tokens = batch * ((height // patch) * (width // patch) + 1)
    hidden, inner = int(config["hidden_size"]), int(config["intermediate_size"])
    return [(tokens, hidden, 3 * hidden), (tokens, hidden, hidden), (tokens, hidden, inner), (tokens, inner, hidden)]
