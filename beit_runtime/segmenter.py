"""``Segmenter``: per-pixel class labels from a semantic-segmentation artifact, at each image's size. Two modes:

* ``mode="whole"`` (default) is transformers' pipeline: the image is preprocessed exactly as the
  checkpoint's image processor does (resized to the model's input size, rescaled, normalised), the
  graph gives logits at 1/4 of that size, and they are upsampled bilinearly (align_corners=False, no
  antialiasing) to the image's original size, then argmax over classes: ``BeitForSemanticSegmentation``
  + ``post_process_semantic_segmentation``. With ``fused_postprocess`` (default) the artifact's
  "postprocess" graph does upsample + argmax in the engine so only int32 labels reach the host;
  otherwise (or when the artifact has no such graph) numpy does the same arithmetic.

* ``mode="slide"`` is mmsegmentation's sliding-window inference (how BEiT's ADE20k numbers are made):
  the image is *not* resized to the model size. It is only rescaled/normalised (the manifest's
  rescale_factor, mean and std, no resize, no crop), optionally first resized with
  ``slide_scale=(long, short)`` the way mmseg's ``Resize(scale=(2560, 640), keep_ratio=True)`` does
  (cv2 bilinear on the 8-bit image; default ``None``: the image is used at its own size). Windows of
  ``crop_size`` (default: the model's input size) every ``stride`` pixels (default: 2/3 of the crop,
  426 for 640) run through the graph; each window's logits are upsampled to the window, overlapping
  windows are averaged, images smaller than a crop are zero-padded after normalisation (bottom/right,
  as mmseg pads) and the padding is cut off; when ``slide_scale`` resized the image, the averaged
  logits are upsampled back to the original size before the argmax. Slide mode post-processes on the
  host (averaging needs the scores), so ``fused_postprocess`` does not apply to it.

The options beside the run options (``SegmenterOptions``) and the window's checks are in
``beit_runtime.segmenter_options``; the window arithmetic is in ``beit_runtime.sliding``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, overload

import numpy as np

from .engines import Engine, load_engine
from .errors import ManifestError
from .image_batches import Chunks
from .image_types import ImageList, Images, ImageSource, ImageT
from .manifest import REEXPORT_HINT, Manifest
from .model_base import PIXEL_INPUT, ArtifactModel
from .options import RunKeywords, RunOptions
from .segmenter_options import MODES as MODES  # re-exported: the public names stay where they were
from .segmenter_options import SegmenterOptions as SegmenterOptions
from .segmenter_options import slide_geometry
from .sliding import (
    cut_crops,
    merge_crops,
    pad_to_crop,
    rescale_to_scale,
    resize_bilinear,
    slide_windows,
    upsample_argmax,
)

if TYPE_CHECKING:
    from typing_extensions import Unpack

POSTPROCESS_VARIANT = "postprocess"


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """One image's segmentation: ``labels`` (H, W) int32 class ids at the image's original size;
    ``scores`` (num_labels, H, W) float32 with ``return_scores=True``, else None: the logits upsampled to the
    image (averaged over windows in slide mode), not probabilities (a softmax over axis 0 gives those).

    Two results are equal (``==``, ``in``) when their label maps, their scores (both None, or arrays of one
    shape and the same values: ``np.array_equal``) and their ``id2label`` are equal. Results hold arrays, which
    can change in place, so they are not hashable (no set members or dict keys; key them by ``id()``).
    """

    labels: np.ndarray
    scores: np.ndarray | None
    id2label: Mapping[int, str]

    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SegmentationResult):
            return NotImplemented
        return (_same(self.labels, other.labels) and _same(self.scores, other.scores)
                and dict(self.id2label) == dict(other.id2label))

    def present(self) -> dict[int, str]:
        """The classes that occur in the label map: {id: name}."""
        return {int(i): self.id2label.get(int(i), str(int(i))) for i in np.unique(self.labels)}


def _same(first: np.ndarray | None, second: np.ndarray | None) -> bool:
    """Both None, or arrays of one shape and equal values."""
    if first is None or second is None:
        return first is second
    return bool(np.array_equal(first, second))


def load_postprocess_engine(manifest: Manifest, *, providers: Sequence[str] | None = None,
                            intra_op_threads: int = 0) -> Engine:
    """The artifact's fused "postprocess" graph (logits + target_size -> labels) on ONNX Runtime, checked."""
    path = manifest.graph_path(POSTPROCESS_VARIANT)
    engine = load_engine(path, backend="onnxruntime", providers=providers, intra_op_threads=intra_op_threads)
    names = sorted(spec.name for spec in engine.inputs)
    if names != ["logits", "target_size"]:
        engine.close()
        raise ManifestError(
            f"the 'postprocess' graph of {manifest.folder} takes {names}, expected logits and target_size; "
            f"{REEXPORT_HINT}"
        )
    return engine


def labels_at_size(logits: np.ndarray, size: Sequence[int], *, postprocess: Engine | None = None) -> np.ndarray:
    """One image's (C, h, w) logits -> (H, W) int32 labels at ``size``: the fused graph when given, else numpy."""
    if postprocess is None:
        return upsample_argmax(logits, size)
    feeds: dict[str, np.ndarray] = {"logits": logits[None].astype(np.float32),
                                    "target_size": np.asarray(size, dtype=np.int64)}
    labels: np.ndarray = postprocess.run(feeds)["labels"][0].astype(np.int32, copy=False)
    return labels


class Segmenter(ArtifactModel):
    """Semantic segmentation with an exported BEiT + UperNet artifact (see the module docstring for modes)."""

    task: ClassVar[str] = "semantic-segmentation"
    min_patch_grid: ClassVar[int] = 2  # UperNet's coarsest level max-pools the patch grid by 2
    own_options: ClassVar[tuple[str, ...]] = tuple(field.name for field in dataclasses.fields(SegmenterOptions))

    def __init__(
        self,
        artifact_dir: str | Path,
        *,
        options: RunOptions | None = None,
        mode: str = "whole",
        crop_size: int | Sequence[int] | None = None,
        stride: int | Sequence[int] | None = None,
        slide_scale: Sequence[int] | None = None,
        fused_postprocess: bool = True,
        **run_options: Unpack[RunKeywords],
    ) -> None:
        """``mode`` .. ``fused_postprocess``: see ``SegmenterOptions``; ``options`` and ``run_options``: the
        run options every task class takes (``RunOptions``)."""
        self.segmenter_options = SegmenterOptions(mode=mode, crop_size=crop_size, stride=stride,
                                                  slide_scale=slide_scale, fused_postprocess=fused_postprocess)
        super().__init__(artifact_dir, options=options, **run_options)
        self.postprocess: Engine | None = None
        try:
            self.crop_size, self.stride, self.slide_scale = slide_geometry(
                self.segmenter_options, model_input=self.manifest.input, min_patch_grid=self.min_patch_grid)
            if self._fuses_postprocess():
                self.postprocess = self._load_postprocess()
        except Exception:
            self.engine.close()
            raise
        self._normalizer = dataclasses.replace(self.preprocessor, do_resize=False, do_center_crop=False)

    @property
    def mode(self) -> str:
        return self.segmenter_options.mode

    def run_graphs(self, variant: str) -> tuple[str, ...]:  # the model graph, and "postprocess" when fused
        return super().run_graphs(variant) + ((POSTPROCESS_VARIANT,) if self._fuses_postprocess() else ())

    def _fuses_postprocess(self) -> bool:
        """Whole-image mode with the artifact's "postprocess" graph, unless ``fused_postprocess=False``."""
        wanted = self.mode == "whole" and self.segmenter_options.fused_postprocess
        return wanted and POSTPROCESS_VARIANT in self.manifest.graphs

    def check_image(self, image: np.ndarray) -> None:
        """Whole-image mode: ``ArtifactModel.check_image``; slide mode pads each image to the crop and runs crops
        of one size, so any image runs."""
        if self.mode == "whole":
            super().check_image(image)

    def _load_postprocess(self) -> Engine:
        return load_postprocess_engine(self.manifest, providers=self.options.providers,
                                       intra_op_threads=self.options.intra_op_threads)

    def close(self) -> None:
        if self.postprocess is not None:
            self.postprocess.close()
        super().close()

    # ----------------------------------------------------------------- public API
    @overload
    def segment(self, images: ImageSource, *, channel_order: str = "rgb",
                return_scores: bool = False) -> SegmentationResult: ...
    @overload
    def segment(self, images: ImageList, *, channel_order: str = "rgb",
                return_scores: bool = False) -> list[SegmentationResult]: ...
    @overload
    def segment(self, images: list[ImageT], *, channel_order: str = "rgb",
                return_scores: bool = False) -> list[SegmentationResult]: ...
    @overload
    def segment(self, images: np.ndarray, *, channel_order: str = "rgb",
                return_scores: bool = False) -> SegmentationResult | list[SegmentationResult]: ...

    def segment(self, images: Images, *, channel_order: str = "rgb",
                return_scores: bool = False) -> SegmentationResult | list[SegmentationResult]:
        """One image -> SegmentationResult; a list of images -> list of SegmentationResult, in order.

        ``images``: anything ``beit_runtime.images.load_image`` takes (paths, encoded bytes, arrays, PIL
        images) or a list of them, of any sizes (a numpy array may be one image or a 4-D batch, so type
        checkers see either result for it; ``beit_runtime.image_types``), decoded ``batch_size`` at a time.
        Labels come back at each image's original size. ``return_scores`` adds ``scores``, the (num_labels, H, W)
        float32 upsampled logits (not probabilities), computed on the host (num_labels*H*W*4 bytes per image);
        without it and with the fused graph, only int32 labels leave the engine.
        """
        chunks, single = self.decoded_chunks(images, channel_order=channel_order)
        if self.mode == "whole":
            results = self._segment_whole(chunks, return_scores=return_scores)
        else:
            results = [self._segment_slide(image, return_scores=return_scores) for _, decoded in chunks
                       for image in decoded]
        return results[0] if single else results

    __call__ = segment

    # ----------------------------------------------------------------- whole-image mode
    def _segment_whole(self, chunks: Chunks, *, return_scores: bool) -> list[SegmentationResult]:
        """Each chunk's images of one tensor size run together (``run_batches``); results in the images' order."""
        results: dict[int, SegmentationResult] = {}
        for indices, images in chunks:
            for batch, outputs in self.run_batches(images):
                for position, logits in zip(batch, outputs["logits"], strict=True):
                    results[indices[position]] = self._finish(logits, images[position].shape[:2],
                                                              return_scores=return_scores)
        return [results[index] for index in range(len(results))]

    def _finish(self, logits: np.ndarray, size: tuple[int, int], *, return_scores: bool) -> SegmentationResult:
        if return_scores:
            scores = resize_bilinear(logits, size)
            return SegmentationResult(np.argmax(scores, axis=0).astype(np.int32), scores, self.labels)
        return SegmentationResult(labels_at_size(logits, size, postprocess=self.postprocess), None, self.labels)

    # ----------------------------------------------------------------- sliding-window mode
    def slide_logits(self, image: np.ndarray) -> np.ndarray:
        """Averaged sliding-window logits (num_labels, h, w) of one decoded image, at the (rescaled) image size."""
        scaled = rescale_to_scale(image, self.slide_scale) if self.slide_scale else image
        pixels = self._normalizer(scaled)
        padded = pad_to_crop(pixels, self.crop_size)
        windows = slide_windows(padded.shape[1], padded.shape[2], crop=self.crop_size, stride=self.stride)
        crops = cut_crops(padded, windows)
        outputs = [self.run({PIXEL_INPUT: crops[part]})["logits"] for part in self.batches(len(crops))]
        crop_logits = np.concatenate(outputs, axis=0)
        return merge_crops(crop_logits, windows, padded_size=padded.shape[1:], image_size=pixels.shape[1:])

    def _segment_slide(self, image: np.ndarray, *, return_scores: bool) -> SegmentationResult:
        logits = self.slide_logits(image)
        size = tuple(image.shape[:2])
        if tuple(logits.shape[1:]) != size:  # slide_scale resized the image: back to the original size
            if not return_scores:
                return SegmentationResult(upsample_argmax(logits, size), None, self.labels)
            logits = resize_bilinear(logits, size)
        labels = np.argmax(logits, axis=0).astype(np.int32)
        return SegmentationResult(labels, logits if return_scores else None, self.labels)
