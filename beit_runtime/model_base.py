"""``ArtifactModel``: what every task class shares (manifest, engine, preprocessor, batching).

One object loads one artifact once: the manifest is validated (schema; the hashes of the files the chosen
run reads, so a variant deleted to save space does not stop the others loading), the graph variant
and backend are chosen here and never again, and the preprocessor is built from the manifest's
"preprocessing" record. Calls keep no per-call state on the object, and the engines' ``run`` is
thread-safe, so one object can serve several threads at once.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import numpy as np

from .attention_memory import check_images_attention, fitting_batch_size
from .device_input import UINT8_INPUT, run_variant, uint8_batch
from .engines import Engine, backend_info, load_engine
from .errors import ImageFormatError, ManifestError, ModelClosedError
from .image_batches import Chunks, decoded_chunks, feed_rows, load_source, merged_outputs, too_small
from .images import check_channel_order
from .manifest import REEXPORT_HINT, Manifest, load_manifest
from .options import RunKeywords, RunOptions
from .parity_gate import check_engine_parity
from .preprocess import Preprocessor
from .run_choice import chosen_backend, resolved_options
from .tasks import TASKS, task

if TYPE_CHECKING:
    from typing_extensions import Unpack

PIXEL_INPUT = "pixel_values"
_Model = TypeVar("_Model", bound="ArtifactModel")


class ArtifactModel:
    """Base of the task classes. Subclasses set ``task`` to the manifest task they accept.

    How the artifact runs is a ``RunOptions`` (``beit_runtime.options``: precision, backend, batch_size,
    intra_op_threads, providers, verify_files, exif_orientation, parity_policy): pass ``options=`` or
    its fields as keywords (keywords replace the fields of ``options``). An unknown keyword raises
    TypeError naming the valid ones; a bad value raises InputError naming the option.
    """

    task: ClassVar[str] = ""
    min_patch_grid: ClassVar[int] = 1  # patches per side the graph needs at least (Segmenter: 2)
    own_options: ClassVar[tuple[str, ...]] = ()  # the subclass's keywords beside the run options (error messages)

    def __init__(self, artifact_dir: str | Path, *, options: RunOptions | None = None,
                 **run_options: Unpack[RunKeywords]) -> None:
        self.options = RunOptions.resolve(options, run_options, owner=type(self).__name__, own=self.own_options)
        self.manifest: Manifest = load_manifest(artifact_dir, verify_files=False,  # the run's files: below
                                                owner=type(self).__name__)
        if self.manifest.task != self.task:
            raise ManifestError(
                f"artifact {self.manifest.folder} is a '{self.manifest.task}' artifact; {type(self).__name__} "
                f"needs a '{self.task}' one (use {task_class_name(self.manifest.task)} for this artifact)"
            )
        self.options, self.choice = resolved_options(self.manifest, self.options)
        self.preprocessor = Preprocessor.from_manifest(self.manifest)
        self.backend, variant, extra = chosen_backend(self.manifest, self.options)
        variant = run_variant(variant, options=self.options, graphs=self.manifest.graphs, backend=self.backend,
                              task_name=self.task)
        self.graph_variant = variant  # the graph that runs: the precision's, or its fused / uint8 form
        if self.options.verify_files:
            engines = [variant] if self.backend == "tensorrt" else []
            self.manifest.check_run_files(self.run_graphs(variant), engines=engines)
        self.engine: Engine = self._load_engine(variant, extra)

    @property
    def precision(self) -> str:
        return self.options.precision

    @property
    def batch_size(self) -> int:
        return self.options.batch_size

    @property
    def exif_orientation(self) -> bool:
        """Paths, bytes and PIL images are turned upright (``images.load_image``)."""
        return self.options.exif_orientation

    def run_graphs(self, variant: str) -> tuple[str, ...]:
        """The graphs loaded when ``variant`` runs (none for a TensorRT engine); ``Segmenter`` adds "postprocess"."""
        return () if self.backend == "tensorrt" else (variant,)

    def _load_engine(self, variant: str, extra: dict[str, Any]) -> Engine:
        if self.backend == "tensorrt":
            return load_engine(self.manifest.engine_path(variant), backend="tensorrt")
        graph = self.manifest.graph_path(variant)
        if self.options.parity_policy == "enforce":
            self._check_engine_parity(variant)
        if self.manifest.graphs[variant].role != "model":
            raise ManifestError(f"graph '{variant}' of {self.manifest.folder} is not a model graph; {REEXPORT_HINT}")
        return load_engine(graph, backend=self.backend, **self._engine_options(extra))

    def _engine_options(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """``load_engine`` options for the chosen ONNX backend: the run options its engine takes (the table's
        ``option_fields``, under their own names), and ``extra``, what the precision needs."""
        fields = backend_info(self.backend).option_fields
        return {**{name: getattr(self.options, name) for name in fields}, **extra}

    def _check_engine_parity(self, variant: str) -> None:
        """Refuse an engine whose parity record for this graph (written by the exporter) failed."""
        check_engine_parity(self.manifest, variant, self.backend, precision=self.precision)

    # ----------------------------------------------------------------- lifecycle
    _closed = False

    def close(self) -> None:
        self._closed = True
        self.engine.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ModelClosedError(f"this {type(self).__name__} of {self.manifest.folder} is closed: create a new one "
                                   "(a with block closes it at its end)")

    def __reduce__(self) -> Any:
        raise TypeError(f"a {type(self).__name__} holds a loaded engine and cannot be pickled: create it in each "
                        f"worker process from its artifact folder {self.manifest.folder} (e.g. in a pool initializer)")

    def __enter__(self: _Model) -> _Model:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        folder = str(self.manifest.folder)
        chosen = f", choice={self.choice!r}" if self.choice != "asked for" else ""
        graph = f", graph={self.graph_variant!r}" if self.graph_variant != self.precision else ""
        return (f"{type(self).__name__}({folder!r}, precision={self.precision!r}, backend={self.backend!r}"
                f"{graph}{chosen})")

    # ----------------------------------------------------------------- inputs
    @property
    def labels(self) -> dict[int, str]:
        return dict(self.manifest.labels)

    def load_images(self, images: Any, *, channel_order: str = "rgb") -> tuple[list[np.ndarray], bool]:
        """One image or a list -> (HxWx3 uint8 RGB arrays, whether one image was given), all decoded now."""
        chunks, single = self.decoded_chunks(images, channel_order=channel_order, all_at_once=True)
        return [image for _, decoded in chunks for image in decoded], single

    def decoded_chunks(self, images: Any, *, channel_order: str = "rgb",
                       all_at_once: bool = False) -> tuple[Chunks, bool]:
        """(the images decoded ``batch_size`` at a time (``all_at_once``: in one chunk), as (indices, HxWx3 uint8
        RGB arrays) per chunk; whether one image was given): ``image_batches.decoded_chunks``, ``load_source``, each
        image checked as it is decoded (``check_image``)."""
        check_channel_order(channel_order)
        self._check_open()
        load = partial(self._load_checked, channel_order=channel_order)
        return decoded_chunks(load, images, size=None if all_at_once else self.batch_size)

    def _load_checked(self, source: Any, *, channel_order: str) -> np.ndarray:
        """``load_source`` of one image, then ``check_image``: a refusal is raised as the image is decoded, so an
        image of a list says which it is (``error.index``, ``image_batches.decoded_chunks``)."""
        image = load_source(source, channel_order=channel_order, exif_orientation=self.exif_orientation)
        self.check_image(image)
        return image

    def run_decoded(self, images: Any, *, channel_order: str = "rgb",
                    outputs: Sequence[str] | None = None) -> tuple[dict[str, np.ndarray], bool]:
        """(``run_images``' outputs for ``images``, decoded and run a batch at a time (``decoded_chunks``), one row
        per image in input order; whether one image was given)."""
        chunks, single = self.decoded_chunks(images, channel_order=channel_order)
        parts = [(indices, self.run_images(decoded, outputs=outputs)) for indices, decoded in chunks]
        return merged_outputs(parts), single

    def batches(self, count: int, *, size: int | None = None) -> Iterator[slice]:
        """Slices of ``count`` items, ``size`` (default ``batch_size``) at a time."""
        step = size or self.batch_size
        for start in range(0, count, step):
            yield slice(start, min(start + step, count))

    def check_image(self, image: np.ndarray) -> None:
        """ImageError when one decoded image cannot run even alone: its tensor too small for the graph
        (``check_image_sizes``) or its attention too large for the memory (``check_attention``)."""
        self.check_image_sizes([image])
        self.check_attention([image])

    def check_image_sizes(self, images: Sequence[np.ndarray]) -> None:
        """ImageFormatError naming the first image whose tensor is smaller than the graph can run: one patch per
        side (``min_patch_grid`` patches for task classes that need more, e.g. UperNet's pooling)."""
        for image in images:
            tensor = self.preprocessor.output_size(image.shape[0], image.shape[1])
            problem = too_small(image.shape[:2], tensor, patch=self.manifest.input.patch_size,
                                grid=self.min_patch_grid, graph=f"the graph of {self.manifest.folder}")
            if problem:
                raise ImageFormatError(problem)

    def pixel_values(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """Preprocess decoded images into the engine's pixel_values tensor (checked against the graph; sizes are
        checked by ``pixel_feeds``, its caller)."""
        tensor = self.preprocessor.batch(images)
        spec_input = self.manifest.input
        if not spec_input.dynamic_resolution:
            expected = spec_input.size
            if tuple(tensor.shape[2:]) != expected:
                raise ManifestError(
                    f"preprocessing makes {tensor.shape[2]}x{tensor.shape[3]} tensors but the graph of "
                    f"{self.manifest.folder} takes {expected[0]}x{expected[1]}; {REEXPORT_HINT}"
                )
        return tensor

    def pixel_feeds(self, images: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """The engine's image input: uint8 ``pixels`` under ``device_normalisation``, else float pixel_values;
        images too small for the graph, or whose attention would not fit in memory, are refused before any is
        preprocessed."""
        self.check_image_sizes(images)
        self.check_attention(images)
        if self.options.device_normalisation:
            return {UINT8_INPUT: uint8_batch(self.preprocessor, images)}
        return {PIXEL_INPUT: self.pixel_values(images)}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run the engine, casting float inputs to the dtypes the graph declares; outputs come back float32/ints."""
        self._check_open()
        typed = dict(feeds)
        for spec in self.engine.inputs:
            value = typed.get(spec.name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f" and np.dtype(spec.dtype).kind == "f":
                typed[spec.name] = value.astype(spec.dtype, copy=False)
        outputs = self.engine.run(typed)
        return {name: value.astype(np.float32) if value.dtype == np.float16 else value
                for name, value in outputs.items()}

    def planned_batches(self, images: Sequence[np.ndarray]) -> list[list[int]]:
        """The indices of ``images`` in the batches they run in: images whose tensors have one size together, at
        most ``batch_size`` a batch and at most as many as their attention fits in memory (``fitting_batch_size``:
        images that fit one at a time but not together run in smaller batches); nothing checked."""
        plan: list[list[int]] = []
        for group in self.preprocessor.size_groups(images):
            height, width = self.preprocessor.output_size(*images[group[0]].shape[:2])
            size = fitting_batch_size(height=height, width=width, record=self.manifest.input, backend=self.backend,
                                      most=self.batch_size)
            plan.extend(group[part] for part in self.batches(len(group), size=size))
        return plan

    def image_batches(self, images: Sequence[np.ndarray]) -> list[list[int]]:
        """``planned_batches``, every image checked (size, attention, ``check_batch``) before any runs: only an
        image that cannot run alone is refused."""
        self.check_image_sizes(images)
        plan = self.planned_batches(images)
        for indices in plan:
            batch = [images[index] for index in indices]
            self.check_attention(batch)
            self.check_batch(batch)
        return plan

    def check_attention(self, images: Sequence[np.ndarray]) -> None:
        """ImageTooLargeError before anything runs when the attention over one batch of ``images`` (one tensor size)
        would not fit in the memory available (``attention_memory``; dynamic-resolution artifacts only)."""
        check_images_attention(images, preprocessor=self.preprocessor, record=self.manifest.input,
                               backend=self.backend)

    def check_batch(self, images: Sequence[np.ndarray]) -> None:
        """Raise before anything runs when one batch of ``images`` (one tensor size) cannot run; nothing here
        (``LayerOutputs`` checks that its outputs fit in memory)."""

    def run_batches(self, images: Sequence[np.ndarray], extra: Mapping[str, Any] | None = None,
                    ) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
        """(indices into ``images``, the engine's outputs for them) per batch of ``image_batches``; ``extra``:
        more feeds, one row per image (an array, or a sequence of per-image arrays)."""
        for indices in self.image_batches(images):
            feeds = self.pixel_feeds([images[index] for index in indices])
            feeds.update({name: feed_rows(value, indices) for name, value in (extra or {}).items()})
            yield indices, self.run(feeds)

    def run_images(self, images: Sequence[np.ndarray], extra: Mapping[str, Any] | None = None, *,
                   outputs: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Preprocess and run decoded images (``run_batches``); the ``outputs`` named (default: all), one row per
        image in input order. ImageFormatError when images of different sizes give an output of different shapes."""
        if len(images) == 0:
            raise ImageFormatError("no images given; pass at least one image")
        parts = []  # only the outputs asked for are kept from batch to batch
        for indices, found in self.run_batches(images, extra):
            parts.append((indices, {name: found[name] for name in (outputs or found)}))
        return merged_outputs(parts)


def task_class(name: str) -> type[ArtifactModel]:
    """The task class that runs ``name`` artifacts: the registry's ``runtime_class``, imported on first use."""
    found = getattr(importlib.import_module("beit_runtime"), task(name).runtime_class)
    if not (isinstance(found, type) and issubclass(found, ArtifactModel)):
        raise TypeError(f"the registry names {found!r} as the class for {name!r}; expected an ArtifactModel subclass")
    return found


def task_class_name(name: str) -> str:
    """The name of the task class for ``name`` artifacts, "a matching task class" for an unknown task."""
    entry = TASKS.get(name)
    return entry.runtime_class if entry is not None else "a matching task class"
