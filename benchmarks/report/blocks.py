"""Generated blocks of benchmarks/RESULTS.md: the text between a ``<!-- name:begin -->`` and its
``<!-- name:end -->`` marker is replaced in place; a file without the markers gets a titled block
appended, so a benchmark run never leaves a figure in RESULTS.md that its results file does not hold."""

from __future__ import annotations

from pathlib import Path


def replace_block(results_md: Path, *, begin: str, end: str, body: str, title: str) -> None:
    """Write ``body`` between ``begin`` and ``end`` in ``results_md`` (append ``## title`` + block if absent)."""
    text = results_md.read_text(encoding="utf-8") if results_md.is_file() else ""
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + f"## {title}\n\n" + block + "\n"
    results_md.write_text(text, encoding="utf-8")
