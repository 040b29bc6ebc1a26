"""Progress: plain lines off a terminal, a tqdm bar when asked for one."""

from __future__ import annotations

import io

from beit_runtime.bulk.progress import Progress


def test_plain_lines_count_images_and_failures():
    stream = io.StringIO()
    progress = Progress(10, stream=stream, every_s=0.0)  # "auto" on a stream that is not a terminal: lines
    progress.advance(4, failed=1)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("beit-run: 4/10 images (1 failed), ")
    assert " images/s, ETA " in lines[0] and lines[1].startswith("beit-run: 4/10 images (1 failed)")


def test_a_bar_is_drawn_with_tqdm():
    stream = io.StringIO()
    progress = Progress(3, mode="bar", stream=stream)
    progress.advance(3)
    progress.close()
    assert "3/3" in stream.getvalue() and "img/s" in stream.getvalue()
