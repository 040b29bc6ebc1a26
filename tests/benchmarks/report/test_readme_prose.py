"""README's prose types no measured speed: ratios, throughputs and latencies are in the generated blocks only.

``python -m benchmarks.report --check`` keeps the blocks between ``<!-- NAME:begin ... -->`` and
``<!-- NAME:end -->`` equal to the results files; a figure typed in the prose around them escapes that check
and goes stale. The pattern is narrow on purpose, to have no false positives: a number directly followed by
``x`` (a ratio: ``0.96x``, not ``224x224``, ``5712x4284`` or ``3 x max_batch_size``), by ``img/s`` /
``images/s``, or by ``ms``. Fenced code (alert thresholds such as ``200 ms`` in the PromQL) and double-quoted
example messages (the progress line's ``35.2 images/s``) are not prose. Seconds, MiB and percentages are not
looked for: the prose is full of defaults and limits in those units (``default 30 s``, ``64 MiB``).
"""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"
GENERATED_BLOCK = re.compile(r"<!-- (\w+):begin.*?<!-- \1:end -->", re.DOTALL)
CODE_FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)
QUOTED_EXAMPLE = re.compile(r'"[^"]{0,200}"')
MEASURED_FIGURE = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?:x(?!\w)|\s*(?:img|images?)/s\b|\s*ms\b)")


def prose(markdown: str) -> str:
    """README's text outside the generated blocks, code fences and quoted examples, on one line."""
    text = CODE_FENCE.sub(" ", GENERATED_BLOCK.sub(" ", markdown))
    return QUOTED_EXAMPLE.sub(" ", " ".join(text.split()))


def typed_figures(markdown: str) -> list[str]:
    """Each measured-looking figure in the prose."""
    return [found.group(0) for found in MEASURED_FIGURE.finditer(prose(markdown))]


def in_context(markdown: str) -> list[str]:
    """The typed figures with the words before them, for the failure message."""
    text = prose(markdown)
    return [text[max(0, found.start() - 60):found.end()] for found in MEASURED_FIGURE.finditer(text)]


def test_readme_prose_repeats_no_measured_speed() -> None:
    markdown = README.read_text(encoding="utf-8")
    assert typed_figures(markdown) == [], ("README prose types measured figures; refer to the generated tables "
                                           f"(`python -m benchmarks.report --readme`) instead: {in_context(markdown)}")


def test_the_generated_blocks_hold_the_figures_the_prose_may_not() -> None:
    blocks = "".join(found.group(0) for found in GENERATED_BLOCK.finditer(README.read_text(encoding="utf-8")))
    assert blocks.count("<!--") >= 4  # the parity and figures blocks, each with its two markers
    assert MEASURED_FIGURE.search(blocks) is not None  # so the pattern matches what the tables write


def test_typed_ratios_throughputs_and_latencies_are_found_and_sizes_are_not() -> None:
    markdown = "\n".join([
        "OpenVINO took 0.96x ORT's speed and 1.16x at batch 8; the graph ran 5,508 img/s;",
        "the first request took 10-12 ms.",
        "Sizes and rules: 224x224, 5712x4284 photos, 3 x `max_batch_size`, 2x2 patches, every 10 s,",
        'a 64 MiB body, default 30 s, a progress line ("120/2000 images, 35.2 images/s, ETA ...").',
        "```promql", "queue > 200 ms 1.5x", "```",
        "<!-- figures:begin: generated -->", "| OpenVINO fp32 | 0.96x [0.93-0.98] | 4 ms |", "<!-- figures:end -->",
    ])
    assert typed_figures(markdown) == ["0.96x", "1.16x", "5,508 img/s", "12 ms"]
