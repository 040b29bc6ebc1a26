"""README's parity and accuracy bullets, written from the stored results, never typed by hand.

The block between ``BEGIN`` and ``END`` comes from benchmarks/RESULTS-parity.json (``python -m
benchmarks.parity_figures``: the exporter's manifest records and the demo segmentation scenes),
RESULTS.json (the demo classifier's held-out top-1, the run the speed table is from) and RESULTS-gpu.json
(the fp16 graph on ONNX Runtime's CUDA provider). Parity figures are the manifest's: per variant, the
worst case over the exporter's parity cases.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Mapping
from typing import Any

from ..backends import REGISTRY

BEGIN = ("<!-- parity:begin: written by `python -m benchmarks.report --readme` from benchmarks/RESULTS-parity.json, "
         "RESULTS.json and RESULTS-gpu.json; do not edit -->")
END = "<!-- parity:end -->"
BASELINE = "ort-fp32"
WIDTH = 104  # README's line length
# the demo checkpoints' training commands, as the training modules' docstrings give them (--output is required)
CLASSIFIER_TRAINING = "python -m beit_export.demo.train_classifier --output beit_export/demo/classifier_checkpoint"
SEGMENTATION_TRAINING = "python -m beit_export.demo.train --output beit_export/demo/checkpoint"

Results = Mapping[str, Any]


def _e(value: float) -> str:
    return f"{value:.1e}"


def _pct(value: float) -> str:
    """A share as a percentage with one decimal, more where one would round a shortfall up to 100.0%."""
    digits = 1
    while value < 1.0 and round(value * 100, digits) >= 100.0 and digits < 6:
        digits += 1
    return f"{value * 100:.{digits}f}%"


def _resolutions(record: Results) -> str:
    """The distinct HxW of a record's random cases, in order ("random b2 224x224" -> 224x224)."""
    seen = [m.group(1) for name in record["cases"] if (m := re.match(r"random b\d+ (\d+x\d+)$", name))]
    return ", ".join(dict.fromkeys(seen))


def _logits(record: Results) -> Results:
    return record["outputs"]["logits"]


def _photos_top1(record: Results) -> str:
    values = [case["logits"]["top1_agreement"] for name, case in record["cases"].items() if name.startswith("photos")]
    return f"{min(values):.2f}" if values else "-"


def _fp32_line(exports: Results) -> str:
    fixed, dynamic = exports["base-224"], exports["base-224-dynamic"]
    parts = []
    for label, entry in (("fixed resolution", fixed), ("`--dynamic-resolution`", dynamic)):
        record = entry["parity"]["fp32"]
        figures = _logits(record)
        parts.append(f"{label} ({_resolutions(record)} and the photos): logits max-abs {_e(figures['max_abs'])}, "
                     f"rel-L2 {_e(figures['rel_l2'])}, top-1 agreement {figures['top1_agreement']:.2f}")
    return f"- fp32 parity, random-init {fixed['model']} on ONNX Runtime CPU vs PyTorch: " + "; ".join(parts) + "."


def _upernet_line(exports: Results) -> str:
    entry = exports["ade-640"]
    figures = _logits(entry["parity"]["fp32"])
    post = (entry["parity"].get("postprocess") or {}).get("outputs", {}).get("labels", {})
    after = (f", {_pct(post['pixel_agreement'])} after the fused upsample + argmax at the images' sizes"
             if "pixel_agreement" in post else "")
    return (f"- BEiT-base + UperNet (random-init {entry['model']}, {_resolutions(entry['parity']['fp32'])}): "
            f"logits max-abs {_e(figures['max_abs'])}, rel-L2 {_e(figures['rel_l2'])}, per-pixel label agreement "
            f"{_pct(figures['top1_agreement'])}{after}.")


def _gpu_fp16(gpu: Results) -> str:
    for run in gpu.get("runs", []):
        parity = ((run.get("stages") or {}).get("classifier_parity") or {}).get("value") or {}
        fp16 = (parity.get("variants") or {}).get("fp16", {}).get("logits")
        if fp16:
            return (f"; the preset's fp16 graph on ONNX Runtime CUDA ({gpu['gpu']}, RESULTS-gpu.json; "
                    f"{parity.get('inputs', 'its inputs')} vs PyTorch fp32 on the GPU): rel-L2 {_e(fp16['rel_l2'])}, "
                    f"top-1 {fp16['top1_agreement']:.2f}")
    return ""


def _fp16_line(exports: Results, gpu: Results) -> str:
    entry = exports["base-224"]
    figures = _logits(entry["parity"]["fp16"])
    return (f"- fp16 graph ({entry['model']}): rel-L2 {_e(figures['rel_l2'])}, top-1 {figures['top1_agreement']:.2f} "
            f"on ONNX Runtime CPU{_gpu_fp16(gpu)}; PyTorch's own CUDA fp16: the GPU parity table in "
            "benchmarks/RESULTS.md.")


def _int8_line(exports: Results) -> str:
    static, dynamic = exports["base-224"]["parity"]["int8"], exports["base-224-dynamic"]["parity"]["int8"]
    return (f"- int8 ({exports['base-224']['model']}): dynamic rel-L2 {_e(_logits(dynamic)['rel_l2'])}, static QDQ "
            f"{_e(_logits(static)['rel_l2'])}; top-1 agreement on the photos {_photos_top1(dynamic)} (dynamic), "
            f"{_photos_top1(static)} (static).")


def _grouped_top1(rows: Results) -> str:
    """'96.66% for A, B and C' groups of the non-baseline rows with one figure each."""
    groups: dict[str, list[str]] = {}
    for name, row in rows.items():
        if name != BASELINE and "top1" in row:
            title = REGISTRY[name].title if name in REGISTRY else name
            groups.setdefault(f"{row['top1'] * 100:.2f}%", []).append(title)
    return "; ".join(f"{value} for {', '.join(names)}" for value, names in groups.items())


def _classifier_line(latency: Results, sizes: Results) -> str:
    accuracy, machine = latency["accuracy"], latency["machine"]
    fp32 = accuracy["rows"][BASELINE]["top1"]
    size = sizes.get(accuracy["model"])
    flags = ", ".join(machine.get("cpu_flags") or ["no extra flags"])
    return (f"- Trained classifier (`{accuracy['model']}`{f', {size / 1e6:.2f} MB' if size else ''}; "
            f"`{CLASSIFIER_TRAINING}` trains it, its docstring gives the time): held-out top-1 "
            f"on the {accuracy['held_out']} digits it never saw (the last ones of scikit-learn's digits), through the "
            f"runtime: **{fp32 * 100:.2f}%** fp32 on ONNX Runtime; {_grouped_top1(accuracy['rows'])} ({machine['cpu']} "
            f"with {flags}, RESULTS.json; the bf16 row needs bf16 units, the runtime refuses it elsewhere).")


def _segmentation_line(segmentation: Results, exports: Results) -> str:
    rows, reference = segmentation["rows"], segmentation["reference"]
    conversion = exports["demo-segmentation"]["parity"]["int8"].get("conversion", {})
    engines = {"onnxruntime int8": "ONNX Runtime", "openvino int8": "OpenVINO",
               "openvino-avx2 int8": "OpenVINO at AVX2"}
    measured = [(title, rows[name]) for name, title in engines.items() if "miou" in rows.get(name, {})]
    mious = ", ".join(f"{row['miou']:.4f} ({title})" for title, row in measured)
    agree = ", ".join(f"{_pct(row['label_agreement_with_fp32'])} ({title})" for title, row in measured)
    return (f"- Segmentation int8 with the head's convolutions quantized (`{segmentation['model']}`, static QDQ: "
            f"{conversion.get('quantized_convolutions', '?')} head convolutions int8, "
            f"{len(conversion.get('float_convolutions', []))} kept float): mIoU {mious} vs "
            f"{rows[reference]['miou']:.4f} fp32; labels equal to fp32's {agree}, on {segmentation['scenes']} scenes.")


def _demo_line(segmentation: Results, sizes: Results) -> str:
    fp32 = segmentation["rows"][segmentation["reference"]]
    size = sizes.get(segmentation["model"])
    per_class = ", ".join(f"{name} {value:.2f}" for name, value in fp32["per_class_iou"].items())
    return (f"- Demo model (`{segmentation['model']}`{f', {size / 1e6:.1f} MB' if size else ''}; "
            f"`{SEGMENTATION_TRAINING}` trains it, its docstring gives the steps and time): "
            f"**mIoU {fp32['miou']:.2f}** on {segmentation['scenes']} fresh procedural scenes through the runtime "
            f"(ONNX Runtime fp32; per class {per_class}). Texture classes are learnt; shape classes only partly.")


def _wrapped(bullet: str) -> list[str]:
    """``bullet`` wrapped at README's width, never inside a `code span`."""
    kept = re.sub(r"`[^`]*`", lambda span: span.group(0).replace(" ", "\0"), bullet)
    lines = textwrap.wrap(kept, width=WIDTH, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
    return [line.replace("\0", " ") for line in lines]


def _machine_line(parity: Results) -> str:
    machine, settings = parity["machine"], parity["settings"]
    flags = machine.get("cpu_flags") or []
    cpu = machine["cpu"] + (f" with {', '.join(flags)}" if flags else "")
    return (f"- Parity and segmentation figures below: `{settings['command']}` on {cpu}, "
            f"{machine['threads_used']} threads ({settings['run_at'][:10]}); parity figures are the exporter's "
            "manifest records, the worst case over its parity cases.")


def parity_figures(*, parity: Results, latency: Results, gpu: Results) -> str:
    """The block between the markers (markers included)."""
    exports, segmentation, sizes = parity["exports"], parity["demo_segmentation"], parity["demo_checkpoint_bytes"]
    bullets = [_machine_line(parity), _fp32_line(exports), _upernet_line(exports), _fp16_line(exports, gpu),
               _int8_line(exports), _classifier_line(latency, sizes), _segmentation_line(segmentation, exports),
               _demo_line(segmentation, sizes)]
    return "\n".join([BEGIN, *(line for bullet in bullets for line in _wrapped(bullet)), END])
