"""PyTorch reference rows: transformers' model (sdpa attention) + its PIL image processor + post-processing.

How a task's end-to-end call is finished, and what an engine-only call is fed, come from the task
registry (``Task.benchmark_postprocess``, ``Task.benchmark_feed``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from beit_runtime.errors import InputError
from beit_runtime.tasks import task

from ..workload.jobs import BackendJob

TOP_K = 5


def _classify(outputs, images, processor):
    scores, ids = outputs.logits.float().softmax(-1).topk(TOP_K, dim=-1)
    return scores.cpu().numpy(), ids.cpu().numpy()


def _segment(outputs, images, processor):
    sizes = [(image.height, image.width) for image in images]
    maps = processor.post_process_semantic_segmentation(outputs, target_sizes=sizes)
    return [label_map.cpu().numpy() for label_map in maps]


def _embed(outputs, images, processor):
    return outputs.pooler_output.float().cpu().numpy()


# Task.benchmark_postprocess -> how the reference finishes an end-to-end call
POSTPROCESS: dict[str, Callable] = {"top-k": _classify, "label-map": _segment, "pooled-embedding": _embed}


def load_processor(hf_dir: str, model_type: str):
    import transformers

    classes = {"beit": transformers.BeitImageProcessorPil, "vit": transformers.ViTImageProcessorPil}
    return classes[model_type].from_pretrained(hf_dir)


def load_model(hf_dir: str, architecture: str):
    import transformers

    model_class = getattr(transformers, architecture)
    return model_class.from_pretrained(hf_dir, attn_implementation="sdpa").eval()


class TorchBackend:
    """Eager transformers model on ``device`` in ``dtype``; engine-only and end-to-end calls."""

    def __init__(self, job: BackendJob, *, device: str, dtype_name: str) -> None:
        import torch

        torch.set_num_threads(job.threads)
        self.torch = torch
        self.job = job
        self.device = device
        self.dtype = getattr(torch, dtype_name)
        config = job.model.config
        self.model = load_model(job.model.hf_dir, config["architectures"][0]).to(device=device, dtype=self.dtype)
        self.processor = load_processor(job.model.hf_dir, config["model_type"])
        self.notes = f"transformers {config['architectures'][0]}, sdpa attention, {dtype_name} on {device}"

    def _sync(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def _forward(self, pixel_values, **extra):
        with self.torch.inference_mode():
            outputs = self.model(pixel_values=pixel_values, **extra)
        self._sync()
        return outputs

    def engine_call(self, batch: int) -> Callable[[], object]:
        torch = self.torch
        info = self.job.model
        generator = torch.Generator().manual_seed(batch)
        pixels = torch.randn((batch, 3, info.height, info.width), generator=generator)
        pixels = pixels.to(device=self.device, dtype=self.dtype)
        extra = {}
        if "bool_masked_pos" in task(info.task).benchmark_feed.split("+"):
            patches = (info.height // info.config["patch_size"]) * (info.width // info.config["patch_size"])
            extra["bool_masked_pos"] = (torch.rand((batch, patches), generator=generator) < 0.4).to(self.device)
        return lambda: self._forward(pixels, **extra)

    def end_to_end_call(self, paths: list[Path]) -> Callable[[], object]:
        from PIL import Image

        finish = task(self.job.model.task).benchmark_postprocess
        if finish is None:
            raise InputError(f"task {self.job.model.task!r} is timed engine-only (Task.benchmark_end_to_end is False); "
                             "it has no end-to-end PyTorch reference")
        postprocess = POSTPROCESS[finish]

        def run():
            images = [Image.open(path).convert("RGB") for path in paths]
            inputs = self.processor(images=images, return_tensors="pt")
            pixels = inputs["pixel_values"].to(device=self.device, dtype=self.dtype)
            return postprocess(self._forward(pixels), images, self.processor)

        return run

    def close(self) -> None:
        self.model = None
        if self.device.startswith("cuda"):
            self.torch.cuda.empty_cache()


def cuda_unavailable(job: BackendJob) -> str | None:
    import torch

    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is False (no CUDA GPU or a CPU-only torch build)"
    return None
