"""Export-friendly copies of BEiT/ViT models: ``make_export_module(model, task=..., dynamic_resolution=...)``.

The returned module's ``forward(*inputs)`` takes the inputs of its ``task_spec`` in order and returns
a tuple of outputs in ``task_spec`` order. It wraps a deep copy of the Hugging Face model in which
only the position handling is replaced (relative position bias, absolute position embedding
interpolation), so everything else runs transformers' own code. The caller's model is untouched.

Static exports run at one resolution (``resolution``, default the config's image size); dynamic
ones accept any height/width (rounded down to whole patches), and equal the HF model called with
``interpolate_pos_encoding=True``. ``extra_outputs`` (``beit_export.outputs.ExtraOutputs``) adds the stacked
``hidden_states`` / ``attentions`` outputs (``modeling.outputs``); without it the module is unchanged.
"""

from __future__ import annotations

import contextlib
import copy

import torch
from torch import nn

from beit_export.errors import UnsupportedCheckpointError
from beit_export.modeling.outputs import extended_task_spec, output_flags, segmentation_layers, stacked_outputs
from beit_export.modeling.position_embeddings import (
    install_dynamic_interpolation,
    install_static_interpolation,
    special_tokens,
)
from beit_export.modeling.relative_position import (
    BiasGeometry,
    DynamicRelativePositionBias,
    StaticRelativePositionBias,
    hf_interpolated_table,
    relative_position_index,
)
from beit_export.outputs import ExtraOutputs
from beit_export.tasks import BACKBONE, base_model, resolve_task_spec
from beit_runtime.tasks import Task

__all__ = ["ExportModule", "config_image_size", "make_export_module", "special_tokens"]


def config_image_size(config) -> tuple[int, int]:
    size = config.image_size
    return (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))


class ExportModule(nn.Module):
    """``forward(pixel_values[, bool_masked_pos]) -> tuple`` over a prepared copy of an HF model."""

    def __init__(self, model: nn.Module, *, task_spec: Task, dynamic_resolution: bool, resolution,
                 extra_outputs: ExtraOutputs | None = None) -> None:
        super().__init__()
        self.model = model
        self.task_spec = extended_task_spec(task_spec, extra_outputs)
        self.dynamic_resolution = dynamic_resolution
        self.resolution = resolution
        self.extra_outputs = extra_outputs
        self.flags = output_flags(extra_outputs)
        self.bias_geometry: BiasGeometry | None = None  # the dynamic biases' shared geometry (make_export_module)

    @property
    def input_names(self) -> list[str]:
        return self.task_spec.input_names

    @property
    def output_names(self) -> list[str]:
        return self.task_spec.output_names

    def _forward_pass(self) -> contextlib.AbstractContextManager:
        """Where the layers' dynamic biases share their window geometry (built once per pass)."""
        return self.bias_geometry.forward_pass() if self.bias_geometry is not None else contextlib.nullcontext()

    def _outputs(self, result) -> tuple[torch.Tensor, ...]:
        if self.extra_outputs is None:
            return tuple(getattr(result, name) for name in self.output_names)
        stacked = stacked_outputs(result, self.extra_outputs)
        return tuple(stacked[name] if name in stacked else getattr(result, name) for name in self.output_names)


class ImageExportModule(ExportModule):
    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with self._forward_pass():
            return self._outputs(self.model(pixel_values, interpolate_pos_encoding=True, **self.flags))


class MaskedImageExportModule(ExportModule):
    def forward(self, pixel_values: torch.Tensor, bool_masked_pos: torch.Tensor) -> tuple[torch.Tensor, ...]:
        with self._forward_pass():
            result = self.model(pixel_values, bool_masked_pos=bool_masked_pos, interpolate_pos_encoding=True,
                                **self.flags)
            return self._outputs(result)


def _replace_relative_position_biases(encoder: nn.Module, *, dynamic: bool, resolution) -> BiasGeometry | None:
    config = encoder.config
    patch = config.patch_size
    config_window = tuple(size // patch for size in config_image_size(config))
    window = (resolution[0] // patch, resolution[1] // patch)
    index = None if dynamic else relative_position_index(*window).reshape(-1).contiguous()
    geometry = BiasGeometry(config_window) if dynamic else None
    owners = [(encoder, "shared_position_bias")] + [(layer, "relative_position_bias") for layer in encoder.layers]
    for owner, attribute in owners:
        original = getattr(owner, attribute, None)
        if original is None:
            continue
        table = original.relative_position_bias_table.detach()
        if dynamic:
            replacement = DynamicRelativePositionBias(table, config_window, geometry=geometry)
        else:
            if window != config_window or config_window[0] != config_window[1]:
                # transformers always resizes the table it views as (width, height) rows/columns: at a
                # non-square config's own window too (a transpose-like resize), an identity only when square
                table = hf_interpolated_table(table, config_window, window)
            replacement = StaticRelativePositionBias(table, index)
        setattr(owner, attribute, replacement)
    return geometry


def _prepare_encoder(encoder: nn.Module, *, dynamic: bool, resolution) -> BiasGeometry | None:
    """Replace the position handling; returns the dynamic relative biases' shared geometry, if any."""
    embeddings, native_size = encoder.embeddings, config_image_size(encoder.config)
    if getattr(embeddings, "position_embeddings", None) is not None:
        if dynamic:
            install_dynamic_interpolation(embeddings, native_size=native_size)
        else:
            install_static_interpolation(embeddings, image_size=resolution, native_size=native_size)
    if hasattr(encoder, "layers") and type(encoder).__name__ == "BeitModel":
        with torch.no_grad():
            return _replace_relative_position_biases(encoder, dynamic=dynamic, resolution=resolution)
    return None


def _check_extra_outputs(model: nn.Module, extra_outputs: ExtraOutputs | None) -> None:
    """DeiT's sequence holds 2 special tokens (CLS, distillation): the runtime's attention maps read one."""
    if extra_outputs is not None and extra_outputs.attentions and special_tokens(base_model(model).embeddings) != 1:
        raise UnsupportedCheckpointError(
            f"--outputs attentions is not exported for {type(model).__name__}: its tokens start with CLS and a "
            "distillation token, and beit-run's attention maps read a CLS token only; leave attentions out of "
            "--outputs (hidden_states is exported)"
        )


def _prepare_segmentation(model: nn.Module, *, keep_layers: int | None) -> nn.Module:
    from beit_export.modeling.segmentation import prepare_segmentation_model  # written by helper SEGMENTATION

    prepared = prepare_segmentation_model(model, keep_layers=keep_layers)
    return model if prepared is None else prepared


def make_export_module(
    model: nn.Module, *, task: str, dynamic_resolution: bool = False, resolution: tuple[int, int] | None = None,
    extra_outputs: ExtraOutputs | None = None,
) -> ExportModule:
    """An eval-mode, export-ready module equal to ``model`` for ``task`` (see module docstring).

    ``resolution`` (static exports only) is the (height, width) the graph is built for; default the
    config's ``image_size``. Raises UnsupportedCheckpointError for a task the model cannot serve.
    """
    task_spec = resolve_task_spec(model, task)
    _check_extra_outputs(model, extra_outputs)
    if dynamic_resolution and resolution is not None:
        raise UnsupportedCheckpointError(
            "resolution= fixes the graph's size; leave it out with dynamic_resolution=True."
        )
    working = copy.deepcopy(base_model(model) if task == BACKBONE.name else model).eval()
    working.set_attn_implementation("eager")
    resolution = tuple(resolution) if resolution is not None else config_image_size(working.config)
    bias_geometry = _prepare_encoder(base_model(working), dynamic=dynamic_resolution, resolution=resolution)
    dead_layer_norms = 0
    if task_spec.upernet_head:
        keep_layers, dead_layer_norms = segmentation_layers(working, extra_outputs)
        working = _prepare_segmentation(working, keep_layers=keep_layers)
    module_class = MaskedImageExportModule if len(task_spec.graph_inputs) == 2 else ImageExportModule
    module = module_class(working, task_spec=task_spec, dynamic_resolution=dynamic_resolution, resolution=resolution,
                          extra_outputs=extra_outputs)
    module.dead_layer_norms = dead_layer_norms
    module.bias_geometry = bias_geometry
    return module.eval()
