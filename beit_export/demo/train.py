"""Train the demo BEiT segmentation checkpoint from scratch on procedural scenes, on CPU in minutes.

Retrain the shipped checkpoint (every option at its default; model init and the scene stream are
seeded, so a rerun on the same torch build and thread count should give the same weights)::

    python -m beit_export.demo.train --output beit_export/demo/checkpoint

That is 2000 steps of 16 scenes with 2 torch threads + 1 scene-generating process: 569 s (9.5 min)
of training on 2 shared CPU cores (torch 2.13 CPU, transformers 5.23), then it prints the mIoU on
50 fresh scenes: 0.490 (per class: background 0.98, plain_round 0.52, plain_polygon 0.22,
striped_round 0.59, striped_polygon 0.14). Texture (plain/striped/grainy) is learned first; the
round-vs-polygon shape distinction is only partly learned in this budget, and more steps help
(earlier runs, then with stochastic depth 0.1: 1000 steps 0.40, 450 steps 0.36).

Every step draws a fresh batch of scenes (random sizes, resized to the model's input like BeitImageProcessor
does), so there is no fixed data set and no over-fitting to one. The folder written holds
config.json (id2label = the scene classes), model.safetensors and preprocessor_config.json
(BeitImageProcessor: resize to 128x128 bicubic, mean = std = 0.5, no centre crop, no label
reduction). The auxiliary FCN head is trained and saved; the exporter drops it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import BeitConfig, BeitForSemanticSegmentation
from transformers.models.beit.image_processing_pil_beit import BeitImageProcessorPil

from beit_export.demo.metrics import mean_iou
from beit_export.demo.scenes import CLASS_NAMES, generate_scene, generate_scenes
from beit_export.demo.training import (
    MEAN,
    STD,
    cosine_learning_rate,
    save_checkpoint,
    small_beit_config,
    square_bicubic_processor,
)

IMAGE_SIZE = 128
EVAL_SEED = 10_000


def demo_config(*, hidden_size: int = 64, patch_size: int = 16, image_size: int = IMAGE_SIZE) -> BeitConfig:
    """A small BEiT + UperNet; the FPN puts the logits at 4/patch_size of the input (32x32 for 16 @ 128).

    transformers' UperNet head is ``hidden_size`` channels wide, so ``hidden_size`` sets the file size.
    """
    return small_beit_config(
        class_names=CLASS_NAMES, image_size=image_size, patch_size=patch_size, hidden_size=hidden_size,
        layer_scale=0.1, drop_path_rate=0.0,
        # transformers 5 feeds the FPN hidden_states[i - 1] (hidden_states[0] = patch embeddings), so
        # index 0 means the last layer: [0, 2, 3, 4] = layers 4, 1, 2, 3 (x4, x2, x1, x1/2 in the FPN).
        out_indices=[0, 2, 3, 4],
        pool_scales=[1, 2, 3, 6],
        use_auxiliary_head=True,
        auxiliary_channels=32,
        auxiliary_num_convs=1,
        auxiliary_concat_input=False,
    )


def image_processor(*, image_size: int = IMAGE_SIZE) -> BeitImageProcessorPil:
    return square_bicubic_processor(image_size)


def _to_model_input(image: np.ndarray, mask: np.ndarray, *, image_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(3, S, S) float32 normalised like BeitImageProcessor, (S, S) int64 labels resized nearest."""
    size = (image_size, image_size)
    resized = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC), dtype=np.float32)
    labels = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize(size, Image.Resampling.NEAREST))
    pixels = (resized / 255.0 - np.float32(MEAN[0])) / np.float32(STD[0])
    return pixels.transpose(2, 0, 1), labels.astype(np.int64)


def training_batch(
    rng: np.random.Generator, *, batch_size: int, image_size: int = IMAGE_SIZE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fresh scenes of random sizes (64..288 a side), brought to the model's input size."""
    pixels, labels = [], []
    for _ in range(batch_size):
        height, width = (int(v) for v in rng.integers(64, 289, size=2))
        image, mask = generate_scene(rng, height=height, width=width, noise=float(rng.uniform(0.0, 8.0)))
        if rng.random() < 0.5:
            image, mask = image[:, ::-1].copy(), mask[:, ::-1].copy()
        x, y = _to_model_input(image, mask, image_size=image_size)
        pixels.append(x)
        labels.append(y)
    return torch.from_numpy(np.stack(pixels)), torch.from_numpy(np.stack(labels))


def _learning_rate(step: int, *, steps: int, peak: float, warmup: int) -> float:
    return cosine_learning_rate(step, steps=steps, peak=peak, warmup=warmup, floor=0.02)


def _weighted_loss(
    model: BeitForSemanticSegmentation, pixel_values: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    """Class-weighted cross-entropy of the decode head + 0.4 x that of the auxiliary head, at label size."""
    captured: list[torch.Tensor] = []
    handle = model.auxiliary_head.register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        logits = model(pixel_values=pixel_values).logits
    finally:
        handle.remove()
    loss = 0.0
    for factor, head_logits in ((1.0, logits), (model.config.auxiliary_loss_weight, captured[0])):
        upsampled = torch.nn.functional.interpolate(
            head_logits, size=labels.shape[-2:], mode="bilinear", align_corners=False
        )
        loss = loss + factor * torch.nn.functional.cross_entropy(upsampled, labels, weight=weights)
    return loss


class _SceneBatches(torch.utils.data.IterableDataset):
    """Endless fresh batches; DataLoader worker ``k`` of ``n`` draws from numpy seed [seed, k]."""

    def __init__(self, *, seed: int, batch_size: int, image_size: int) -> None:
        super().__init__()
        self.seed, self.batch_size, self.image_size = seed, batch_size, image_size

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        rng = np.random.default_rng(self.seed if info is None else [self.seed, info.id])
        while True:
            yield training_batch(rng, batch_size=self.batch_size, image_size=self.image_size)


def _batches(*, seed: int, batch_size: int, image_size: int, workers: int):
    dataset = _SceneBatches(seed=seed, batch_size=batch_size, image_size=image_size)
    if workers == 0:
        return iter(dataset)
    return iter(torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=4))


def train(
    model: BeitForSemanticSegmentation, *, steps: int, batch_size: int = 16, lr: float = 1e-3, seed: int = 0,
    background_weight: float = 0.3, device: str = "cpu", workers: int = 0, max_seconds: float | None = None,
    log_every: int = 50,
) -> BeitForSemanticSegmentation:
    """AdamW with warm-up and cosine decay; each step sees a fresh batch drawn from ``seed``.

    Background covers most pixels; ``background_weight`` (< 1) keeps it from drowning the objects.
    ``workers`` > 0 generates scenes in DataLoader processes (a different, equally seeded stream).
    ``max_seconds`` stops early (saying so) when the time is up. Returns the model on the CPU, in eval mode.
    """
    weights = torch.ones(model.config.num_labels, device=device)
    weights[0] = background_weight
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    batches = _batches(seed=seed, batch_size=batch_size, image_size=model.config.image_size, workers=workers)
    started, running = time.monotonic(), 0.0
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(step, steps=steps, peak=lr, warmup=min(100, steps // 10 + 1))
        pixel_values, labels = (tensor.to(device) for tensor in next(batches))
        loss = _weighted_loss(model, pixel_values, labels, weights)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        running += loss.item()
        elapsed = time.monotonic() - started
        if (step + 1) % log_every == 0 or step + 1 == steps:
            print(f"step {step + 1}/{steps} loss {running / ((step % log_every) + 1):.4f} {elapsed:.0f}s", flush=True)
            running = 0.0
        if max_seconds is not None and elapsed > max_seconds:
            print(f"stopped early after {step + 1} of {steps} steps: --max-seconds {max_seconds} reached", flush=True)
            break
    return model.cpu().eval()


@torch.no_grad()
def evaluate(
    model: BeitForSemanticSegmentation, scenes: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, np.ndarray]:
    """(mIoU, per-class IoU) of ``model`` on (image, mask) pairs, as transformers post-processes logits."""
    predictions = []
    for image, mask in scenes:
        pixels, _ = _to_model_input(image, mask, image_size=model.config.image_size)
        logits = model(pixel_values=torch.from_numpy(pixels)[None]).logits
        logits = torch.nn.functional.interpolate(logits, size=mask.shape, mode="bilinear", align_corners=False)
        predictions.append(logits.argmax(dim=1)[0].numpy())
    return mean_iou(predictions, [mask for _, mask in scenes], num_classes=len(CLASS_NAMES))


def build_model(*, seed: int = 0, **config_options) -> BeitForSemanticSegmentation:
    torch.manual_seed(seed)
    return BeitForSemanticSegmentation(demo_config(**config_options))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True,
                        help="folder to write the checkpoint to (the shipped one: beit_export/demo/checkpoint)")
    parser.add_argument("--steps", type=int, default=2000, help="optimizer steps (batch of fresh scenes each)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden-size", type=int, default=64, help="BEiT width (also the UperNet head's)")
    parser.add_argument("--patch-size", type=int, default=16)
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="the model's square input size")
    parser.add_argument("--background-weight", type=float, default=0.3, help="loss weight of background pixels")
    parser.add_argument("--eval-scenes", type=int, default=50, help="fresh scenes to report mIoU on (0: skip)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="cpu", help="torch device to train on (cpu, cuda)")
    parser.add_argument("--workers", type=int, default=1, help="scene-generating processes (0: in the main one)")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop training early after this long")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    model = build_model(
        seed=args.seed, hidden_size=args.hidden_size, patch_size=args.patch_size, image_size=args.image_size
    )
    model = train(
        model, steps=args.steps, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
        background_weight=args.background_weight, device=args.device, workers=args.workers,
        max_seconds=args.max_seconds,
    )
    save_checkpoint(model, args.output)
    print(f"saved {args.output} after {args.steps} steps in {time.monotonic() - started:.0f}s")
    if args.eval_scenes:
        miou, per_class = evaluate(model, generate_scenes(args.eval_scenes, seed=EVAL_SEED))
        print(f"mIoU on {args.eval_scenes} fresh scenes (seed {EVAL_SEED}): {miou:.4f}; "
              f"per class {np.round(per_class, 3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
