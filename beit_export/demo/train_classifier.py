"""Train the demo BEiT digit classifier from scratch on scikit-learn's 8x8 digits, on CPU in minutes.

Retrain the shipped checkpoint (every option at its default; model init, shuffling and augmentation
are seeded, so a rerun on the same torch build and thread count should give the same weights)::

    python -m beit_export.demo.train_classifier --output beit_export/demo/classifier_checkpoint

That is 60 epochs of 44 batches of 32 (2,640 AdamW steps, peak lr 3e-3, label smoothing 0.1,
stochastic depth 0.1) with 2 torch threads: 94-100 s of training on 2 otherwise idle cores of a
shared AMD EPYC (Zen 3, AVX2) VM (torch 2.13 CPU, transformers 5.23; under load from other jobs the
same run took up to 3-4x longer; a later rerun took 391 s wall), and every run so far wrote a
bit-identical model.safetensors (sha256 3b65009e...). It then prints
the held-out top-1 via transformers: 0.9666 (347 of 359). Exported with ``beit-export`` and run
through ``beit_runtime.Classifier`` the held-out top-1 is 0.9666 in fp32, fp16, int8 static QDQ and
int8 dynamic alike. The model: BeitForImageClassification, 32x32 input, patch 8 (a 4x4 grid of
tokens, each 2x2 source pixels), hidden 64, 4 layers of 4 heads, per-layer relative position bias,
mean pooling, layer scale 1.0: 0.21 M parameters, 0.87 MB of fp32 safetensors. Settings were chosen
on a validation split (the last 288 training digits, ``--validation-size 288``: 0.9931 there).

Data (``beit_export.demo.digits``): the first 1,438 digits train, the last 359 (index 1438 onwards)
are held out and only scored at the end; no early stopping or model selection uses them
(``--validation-size N`` carves a validation set out of the training digits instead, and then the
held-out digits are not scored at all). Every image goes the way the runtime sends a grayscale
image: 8x8 uint8 -> three identical channels -> transformers' BeitImageProcessorPil (resize to the
model size, bicubic; rescale 1/255; normalise mean = std = 0.5) -> the model. Augmentation happens
before the processor: with probability ``--augment-probability`` the 3-channel digit is first
resized to the model size with the same bicubic resize, then warped by a random affine map (PIL,
bilinear, black fill: rotation, scale, shear, shift up to about one source pixel), so the
processor's resize is then an exact identity; the other images are fed unchanged.

The folder written holds config.json (BeitForImageClassification, id2label "0".."9"),
model.safetensors and preprocessor_config.json (a BeitImageProcessor recipe).
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import BeitConfig, BeitForImageClassification
from transformers.models.beit.image_processing_pil_beit import BeitImageProcessorPil

from beit_export.demo.digits import CLASS_NAMES, DigitSplit, held_out_split, top1_accuracy, train_split
from beit_export.demo.training import cosine_learning_rate, save_checkpoint, small_beit_config, square_bicubic_processor

IMAGE_SIZE = 32


def classifier_config(*, hidden_size: int = 64, patch_size: int = 8, image_size: int = IMAGE_SIZE,
                      num_layers: int = 4, drop_path_rate: float = 0.1, layer_scale: float = 1.0) -> BeitConfig:
    """A small BEiT classifier: relative position bias per layer, no absolute ones, mean pooling."""
    return small_beit_config(class_names=CLASS_NAMES, image_size=image_size, patch_size=patch_size,
                             hidden_size=hidden_size, num_layers=num_layers, layer_scale=layer_scale,
                             drop_path_rate=drop_path_rate)


def image_processor(*, image_size: int = IMAGE_SIZE) -> BeitImageProcessorPil:
    return square_bicubic_processor(image_size)


def as_rgb(gray: np.ndarray) -> np.ndarray:
    """HxW uint8 -> HxWx3 uint8 with three identical channels, as beit_runtime.images does."""
    return np.repeat(gray[:, :, None], 3, axis=2)


def random_affine(rgb: np.ndarray, rng: np.random.Generator, *, image_size: int) -> np.ndarray:
    """Bicubic resize to ``image_size`` (as the processor would), then a random affine warp about the centre."""
    image = Image.fromarray(rgb).resize((image_size, image_size), Image.Resampling.BICUBIC)
    angle = math.radians(rng.uniform(-12.0, 12.0))
    scale = rng.uniform(0.88, 1.12)
    shear = rng.uniform(-0.15, 0.15)
    shift = rng.uniform(-1.0, 1.0, size=2) * image_size / 8
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    # PIL maps each output pixel (x, y) to the input (a x + b y + c, d x + e y + f).
    a, b, d, e = cos, sin + shear * cos, -sin, cos - shear * sin
    centre = image_size / 2  # PIL samples pixel centres at x + 0.5
    c = centre - a * (centre + shift[0]) - b * (centre + shift[1])
    f = centre - d * (centre + shift[0]) - e * (centre + shift[1])
    warped = image.transform(image.size, Image.Transform.AFFINE, (a, b, c, d, e, f), Image.Resampling.BILINEAR)
    return np.asarray(warped)


def model_inputs(images: np.ndarray, processor: BeitImageProcessorPil, *, rng: np.random.Generator | None = None,
                 augment_probability: float = 0.0) -> torch.Tensor:
    """(N, 3, S, S) float32 pixel values through the processor, some images warped first when ``rng`` is given."""
    image_size = processor.size["height"]
    batch = []
    for gray in images:
        rgb = as_rgb(gray)
        if rng is not None and rng.random() < augment_probability:
            rgb = random_affine(rgb, rng, image_size=image_size)
        batch.append(rgb)
    return torch.from_numpy(processor(batch, return_tensors="np")["pixel_values"])


def _learning_rate(step: int, *, steps: int, peak: float, warmup: int) -> float:
    return cosine_learning_rate(step, steps=steps, peak=peak, warmup=warmup, floor=0.01)


def _epoch_batches(count: int, rng: np.random.Generator, *, batch_size: int) -> list[np.ndarray]:
    order = rng.permutation(count)
    return [order[start:start + batch_size] for start in range(0, count - batch_size + 1, batch_size)]


def train(
    model: BeitForImageClassification, data: DigitSplit, *, epochs: int = 60, batch_size: int = 32, lr: float = 3e-3,
    weight_decay: float = 0.05, label_smoothing: float = 0.1, augment_probability: float = 0.8, seed: int = 0,
    max_seconds: float | None = None,
) -> BeitForImageClassification:
    """AdamW with warm-up and cosine decay over ``epochs`` seeded shuffles of ``data``; returns it in eval mode."""
    processor = image_processor(image_size=model.config.image_size)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * (len(data) // batch_size)
    model.train()
    started, step = time.monotonic(), 0
    for epoch in range(epochs):
        running = 0.0
        for indices in _epoch_batches(len(data), rng, batch_size=batch_size):
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, steps=steps, peak=lr, warmup=max(steps // 20, 1))
            pixels = model_inputs(data.images[indices], processor, rng=rng, augment_probability=augment_probability)
            logits = model(pixel_values=pixels).logits
            loss = torch.nn.functional.cross_entropy(
                logits, torch.from_numpy(data.labels[indices]), label_smoothing=label_smoothing
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            running, step = running + loss.item(), step + 1
        elapsed = time.monotonic() - started
        print(f"epoch {epoch + 1}/{epochs} loss {running / (len(data) // batch_size):.4f} {elapsed:.0f}s", flush=True)
        if max_seconds is not None and elapsed > max_seconds:
            print(f"stopped early after {epoch + 1} of {epochs} epochs: --max-seconds {max_seconds} reached",
                  flush=True)
            break
    return model.eval()


@torch.no_grad()
def predict(model: BeitForImageClassification, images: np.ndarray, *, batch_size: int = 128) -> np.ndarray:
    """Class ids for (N, 8, 8) uint8 digits through the processor and the model (no augmentation)."""
    processor = image_processor(image_size=model.config.image_size)
    model.eval()
    predicted = []
    for start in range(0, len(images), batch_size):
        logits = model(pixel_values=model_inputs(images[start:start + batch_size], processor)).logits
        predicted.append(logits.argmax(dim=-1).numpy())
    return np.concatenate(predicted)


def build_model(*, seed: int = 0, **config_options) -> BeitForImageClassification:
    torch.manual_seed(seed)
    return BeitForImageClassification(classifier_config(**config_options))


def _split(validation_size: int) -> tuple[DigitSplit, DigitSplit, str]:
    """(training digits, digits to score, their name): the held-out split, or the tail of the training one."""
    training = train_split()
    if validation_size <= 0:
        return training, held_out_split(), "held-out digits (index 1438 onwards)"
    cut = len(training) - validation_size
    fit = DigitSplit(images=training.images[:cut], labels=training.labels[:cut])
    validation = DigitSplit(images=training.images[cut:], labels=training.labels[cut:])
    return fit, validation, f"validation digits (training indices {cut}..{len(training) - 1})"


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True,
                        help="folder to write the checkpoint to (the shipped one: "
                             "beit_export/demo/classifier_checkpoint)")
    parser.add_argument("--epochs", type=int, default=60, help="passes over the training digits")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--augment-probability", type=float, default=0.8, help="share of images warped")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--hidden-size", type=int, default=64, help="BEiT width")
    parser.add_argument("--num-layers", type=int, default=4)
    parser.add_argument("--patch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE, help="the model's square input size")
    parser.add_argument("--drop-path-rate", type=float, default=0.1, help="stochastic depth")
    parser.add_argument("--layer-scale", type=float, default=1.0, help="initial layer-scale value (BEiT's lambda)")
    parser.add_argument("--validation-size", type=int, default=0,
                        help="score the last N training digits instead of the held-out ones (and train without them)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--max-seconds", type=float, default=None, help="stop after the epoch that passes this")
    args = parser.parse_args(argv)
    if not 0 <= args.validation_size < len(train_split()) - args.batch_size:
        parser.error(f"--validation-size must be 0 (score the held-out digits) or leave over {args.batch_size} "
                     f"training digits, got {args.validation_size}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _arguments(argv)
    torch.set_num_threads(args.threads)
    fit, scored, scored_name = _split(args.validation_size)
    started = time.monotonic()
    model = build_model(
        seed=args.seed, hidden_size=args.hidden_size, patch_size=args.patch_size, image_size=args.image_size,
        num_layers=args.num_layers, drop_path_rate=args.drop_path_rate, layer_scale=args.layer_scale,
    )
    model = train(
        model, fit, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
        label_smoothing=args.label_smoothing, augment_probability=args.augment_probability, seed=args.seed,
        max_seconds=args.max_seconds,
    )
    save_checkpoint(model, args.output)
    print(f"saved {args.output} after training on {len(fit)} digits in {time.monotonic() - started:.0f}s")
    accuracy = top1_accuracy(predict(model, scored.images), scored.labels)
    print(f"top-1 on the {len(scored)} {scored_name}, via transformers: {accuracy:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
