"""``FeatureExtractor``: images -> pooled embeddings (and patch tokens) from a backbone artifact."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from .image_batches import in_input_order
from .image_types import Images
from .layer_outputs import LayerOutputs


@dataclass(frozen=True, eq=False)
class Features:
    """Embeddings of a batch: ``pooled`` (N, D), ``patch_tokens`` (N, num_patches, D), ``cls_token`` (N, D).

    Two ``Features`` are equal (``==``, ``in``) when each of their arrays has the other's shape and values
    (``np.array_equal``). They hold arrays, which can change in place, so they are not hashable.
    """

    pooled: np.ndarray
    patch_tokens: np.ndarray
    cls_token: np.ndarray

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Features):
            return NotImplemented
        return all(np.array_equal(getattr(self, name), getattr(other, name))
                   for name in ("pooled", "patch_tokens", "cls_token"))


class FeatureExtractor(LayerOutputs):
    """Embed images with an exported backbone artifact (BeitModel / ViTModel / DeiTModel).

    ``extract(images)`` returns the pooled embedding: (D,) for one image, (N, D) for a list. The pooled
    output is the model's ``pooler_output`` (BEiT: mean of the patch tokens after the final norm; ViT:
    its pooler on the CLS token), or the CLS token when the graph has no pooler. With
    ``patch_tokens=True`` it returns ``Features`` (pooled, patch tokens, CLS token). Artifacts exported with
    ``--outputs hidden_states,attentions`` also answer ``hidden_states``, ``attentions`` and ``attention_maps``
    (``beit_runtime.layer_outputs``).
    """

    task = "backbone"

    @overload
    def extract(self, images: Images, *, patch_tokens: Literal[False] = False,
                channel_order: str = "rgb") -> np.ndarray: ...
    @overload
    def extract(self, images: Images, *, patch_tokens: Literal[True], channel_order: str = "rgb") -> Features: ...
    @overload
    def extract(self, images: Images, *, patch_tokens: bool = False,
                channel_order: str = "rgb") -> np.ndarray | Features: ...

    def extract(self, images: Images, *, patch_tokens: bool = False,
                channel_order: str = "rgb") -> np.ndarray | Features:
        """Pooled embeddings ((D,) for one image, (N, D) for a list of any sizes); with ``patch_tokens``,
        ``Features`` (a list must then preprocess to one size: the token counts differ otherwise)."""
        if not patch_tokens:
            return self._pooled(images, channel_order=channel_order)
        names = [name for name in ("last_hidden_state", "pooler_output") if name in self._output_names]
        outputs, single = self.run_decoded(images, channel_order=channel_order, outputs=names)
        hidden = outputs["last_hidden_state"].astype(np.float32, copy=False)
        pooled = pooled_embedding(outputs)
        special = self.manifest.input.special_tokens  # CLS (and DeiT's distillation token) before the patches
        if single:
            return Features(pooled=pooled[0], patch_tokens=hidden[0, special:], cls_token=hidden[0, 0])
        return Features(pooled=pooled, patch_tokens=hidden[:, special:], cls_token=hidden[:, 0])

    def _pooled(self, images: Images, *, channel_order: str) -> np.ndarray:
        """Pooled embeddings, decoded and run a batch at a time: only each batch's pooled rows are kept."""
        chunks, single = self.decoded_chunks(images, channel_order=channel_order)
        parts = [([indices[position] for position in batch], pooled_embedding(outputs))
                 for indices, decoded in chunks for batch, outputs in self.run_batches(decoded)]
        pooled = in_input_order("pooled embedding", parts, sum(len(batch) for batch, _ in parts))
        return pooled[0] if single else pooled

    @property
    def _output_names(self) -> set[str]:
        return {spec.name for spec in self.engine.outputs}

    __call__ = extract


def pooled_embedding(outputs: Mapping[str, np.ndarray]) -> np.ndarray:
    """(N, D) float32 embeddings from a backbone's outputs: ``pooler_output``, else the CLS token."""
    pooled = outputs.get("pooler_output")
    if pooled is None:
        return outputs["last_hidden_state"].astype(np.float32, copy=False)[:, 0]
    return pooled.astype(np.float32, copy=False)
