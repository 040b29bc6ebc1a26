"""``LayerOutputs``: the optional ``hidden_states`` / ``attentions`` outputs of an artifact, as task-class methods.

An artifact exported with ``beit-export ... --outputs hidden_states,attentions`` carries two more graph
outputs (``beit_runtime.tasks``: ``Task.optional_outputs``); ``FeatureExtractor`` and ``Classifier`` read
them through these methods:

- ``hidden_states(images)`` -> float32 (n, layers + 1, tokens, hidden): the embeddings and each layer's output;
- ``attentions(images)`` -> float32 (n, exported layers, heads, tokens, tokens);
- ``attention_maps(images, layer=-1)`` -> the CLS token's attention to the patches per head, (heads, H, W)
  at the image's own size (``beit_runtime.attention``); a list for several images.

An artifact without the output raises ``OutputUnavailableError`` naming the export flag (and a layer the model
has but the artifact does not hold; a layer the model does not have is an ``InputError``); a call whose
outputs would not fit in memory raises ``OutputTooLargeError`` before it runs (``attention.check_fits``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

from .attention import check_fits, cls_attention_maps
from .errors import InputError, OutputUnavailableError
from .image_types import ImageList, Images, ImageSource, ImageT
from .manifest import Manifest
from .model_base import ArtifactModel
from .tasks import OPTIONAL_OUTPUTS

# How many copies of its optional outputs one batch holds at its peak: the graph's per-layer tensors, their
# stacked output and onnxruntime's copy into numpy. Measured as the growth of ru_maxrss over a warmed-up model
# for attentions() and classify() on one 1x100 and one 1x200 strip (1601 / 3201 tokens) with a 4-layer, 2-head
# BEiT exported --dynamic-resolution --outputs attentions (shortest_edge 32 recipe, intra_op_threads=1):
# 3.06 and 3.03 times the outputs' float32 bytes; 3.5 leaves room for the allocator's slack.
PEAK_COPIES = 3.5
# optional output -> the beit-export flag that adds it
EXPORT_FLAGS = {spec.name: f"--outputs {spec.name}" for spec in OPTIONAL_OUTPUTS}


class LayerOutputs(ArtifactModel):
    """An ``ArtifactModel`` whose artifact may carry the optional per-layer outputs."""

    @property
    def optional_outputs(self) -> tuple[str, ...]:
        """The optional outputs this artifact's graph has ("hidden_states", "attentions")."""
        names = {spec.name for spec in self.engine.outputs}
        return tuple(name for name in EXPORT_FLAGS if name in names)

    @property
    def attention_layers(self) -> tuple[int, ...]:
        """The 0-based encoder layers whose attention weights the artifact outputs (axis 1 of ``attentions``)."""
        return exported_layers(self.manifest)[0]

    @property
    def num_layers(self) -> int:
        """The model's encoder layers (from the export record; 0 when the artifact has no optional output)."""
        return exported_layers(self.manifest)[1]

    def hidden_states(self, images: Images, *, channel_order: str = "rgb") -> np.ndarray:
        """float32 (n, layers + 1, tokens, hidden) for a list, (layers + 1, tokens, hidden) for one image."""
        return self._optional_output("hidden_states", images, channel_order=channel_order)

    def attentions(self, images: Images, *, channel_order: str = "rgb") -> np.ndarray:
        """float32 (n, layers, heads, tokens, tokens) for a list (one image: without n); ``attention_layers``
        says which encoder layers axis 1 holds."""
        return self._optional_output("attentions", images, channel_order=channel_order)

    @overload
    def attention_maps(self, images: ImageSource, *, layer: int = -1, channel_order: str = "rgb") -> np.ndarray: ...
    @overload
    def attention_maps(self, images: ImageList, *, layer: int = -1, channel_order: str = "rgb") -> list[np.ndarray]: ...
    @overload
    def attention_maps(self, images: list[ImageT], *, layer: int = -1,
                       channel_order: str = "rgb") -> list[np.ndarray]: ...
    @overload
    def attention_maps(self, images: np.ndarray, *, layer: int = -1,
                       channel_order: str = "rgb") -> np.ndarray | list[np.ndarray]: ...

    def attention_maps(self, images: Images, *, layer: int = -1,
                       channel_order: str = "rgb") -> np.ndarray | list[np.ndarray]:
        """The CLS token's attention to the patches of encoder ``layer`` (negative: from the last), per head:
        (heads, H, W) float32 at the image's own size; a list of them for several images."""
        self._require("attentions")
        position = attention_layer_position(layer, exported=self.attention_layers, total=self.num_layers,
                                            folder=self.manifest.folder)
        chunks, single = self.decoded_chunks(images, channel_order=channel_order)
        maps = []
        for image in (image for _, decoded in chunks for image in decoded):  # one at a time: each at its own size
            weights = self._run_checked("attentions", [image])[0, position]
            maps.append(cls_attention_maps(weights, preprocessor=self.preprocessor, image_size=image.shape[:2],
                                           patch_size=self.manifest.input.patch_size))
        return maps[0] if single else maps

    # ----------------------------------------------------------------- helpers
    def _require(self, name: str) -> None:
        if name not in self.optional_outputs:
            raise OutputUnavailableError(missing_output_message(self.manifest.folder, name))

    def _optional_output(self, name: str, images: Images, *, channel_order: str) -> np.ndarray:
        self._require(name)
        decoded, single = self.load_images(images, channel_order=channel_order)
        values = self._run_checked(name, decoded)
        return values[0] if single else values

    def _run_checked(self, name: str, images: list[np.ndarray]) -> np.ndarray:
        """Output ``name`` of ``images``, after checking that the whole result fits twice (the batches' outputs and
        the array they are put back into); ``run_images`` checks each batch's peak (``check_batch``)."""
        patch, special = self.manifest.input.patch_size, self.manifest.input.special_tokens
        sizes = [self.preprocessor.output_size(*image.shape[:2]) for image in images]
        kept = sum(self._output_bytes((h // patch) * (w // patch) + special, (name,)) for h, w in sizes)
        check_fits(2 * kept, what=f"the '{name}' output of {len(images)} image(s)",
                   fix="pass fewer images per call, or smaller images")
        return self.run_images(images, outputs=(name,))[name]

    def check_batch(self, images: Sequence[np.ndarray]) -> None:
        """OutputTooLargeError before anything runs when the graph's optional outputs for one batch of ``images``
        (one tensor size) would not fit in memory; the graph computes them on every call, ``classify`` included."""
        if not self.optional_outputs:
            return
        height, width = self.preprocessor.output_size(*images[0].shape[:2])
        patch = self.manifest.input.patch_size  # the patches, then CLS (and DeiT's distillation token)
        tokens = (height // patch) * (width // patch) + self.manifest.input.special_tokens
        check_fits(len(images) * self._bytes_per_image(tokens), what=f"running {len(images)} image(s) at "
                   f"{height}x{width} ({tokens} tokens) with the graph's optional outputs",
                   fix="pass fewer images per call, a smaller batch_size or smaller images, or re-export with "
                       "--attention-layers last (or N,M) to keep fewer layers, or without --outputs")

    def _bytes_per_image(self, tokens: int) -> int:
        """Peak bytes a call holds per image of ``tokens`` tokens: ``PEAK_COPIES`` times the float32 bytes of every
        optional output (dynamic axes = tokens)."""
        return math.ceil(PEAK_COPIES * self._output_bytes(tokens))

    def _output_bytes(self, tokens: int, names: Sequence[str] = tuple(EXPORT_FLAGS)) -> int:
        """float32 bytes of the optional outputs ``names`` of one image of ``tokens`` tokens (dynamic axes = tokens)."""
        return sum(4 * math.prod(dim if isinstance(dim, int) and dim > 0 else tokens for dim in spec.shape[1:])
                   for spec in self.engine.outputs if spec.name in names)


def exported_layers(manifest: Manifest) -> tuple[tuple[int, ...], int]:
    """(the encoder layers whose attentions the artifact outputs, the model's encoder layers) from its export
    record; ((), 0) for an artifact without optional outputs."""
    export = manifest.export
    record = dict(export.extra_outputs) if export is not None and export.extra_outputs else {}
    return tuple(int(layer) for layer in record.get("attention_layers", ())), int(record.get("num_layers", 0))


def missing_output_message(folder: Path | str, name: str) -> str:
    """What to say when the artifact in ``folder`` lacks the optional output ``name``: the flag that adds it."""
    return (f"artifact {folder} was exported without the '{name}' output; re-export it with "
            f"`beit-export --model ... {EXPORT_FLAGS[name]}` (add the other optional output with a comma)")


def attention_layer_position(layer: Any, *, exported: Sequence[int], total: int, folder: Path | str) -> int:
    """Where encoder layer ``layer`` (negative: from the last) lies among the ``exported`` ones: InputError when
    it is not a whole number or the model has no such layer (``encoder_layer``), OutputUnavailableError when the
    artifact in ``folder`` does not hold its attentions (re-export to add them)."""
    index = encoder_layer(layer, exported=exported, total=total)
    if index not in exported:
        raise OutputUnavailableError(
            f"artifact {folder} holds the attentions of layers {list(exported)}, not of layer "
            f"{index}; ask for one of those, or re-export with `--attention-layers {index}` (or all)")
    return list(exported).index(index)


def encoder_layer(layer: Any, *, exported: Sequence[int], total: int) -> int:
    """The 0-based index of encoder ``layer`` (negative: from the last) of a model of ``total`` layers; InputError
    naming the valid range when it is not a whole number or the model has no such layer (a bad argument, whether
    the model runs here or is served; ``exported``: the layers the artifact holds, named in the message)."""
    valid = f"0 to {total - 1}, or -{total} to -1 from the last"
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
        raise InputError(f"layer must be a whole number ({valid}), got {layer!r}")
    if not -total <= layer < total:
        raise InputError(f"layer {layer!r} is not an encoder layer: the model has {total} ({valid}); the artifact "
                         f"holds the attentions of layers {list(exported)}")
    return int(layer) % total
