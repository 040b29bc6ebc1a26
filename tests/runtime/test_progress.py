"""Progress: plain lines off a terminal, a tqdm bar when asked for one."""

from __future__ import annotations

import io

from beit_runtime.progress import Progress


def test_plain_lines_count_images_and_failures():
    stream = io.StringIO()
    progress = Progress(10, stream=stream, every_s=0.0)  # "auto" on a stream that is not a terminal: lines
    progress.advance(4, failed=1)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("beit-run: 4/10 images (1 failed), ")
    assert " images/s, ETA " in lines[0] and lines[1].startswith("beit-run: 4/10 images (1 failed)")


def test_the_rate_and_eta_count_from_the_first_result_not_the_start_up(monkeypatch):
    from types import SimpleNamespace

    import beit_runtime.progress as progress_module

    clock = iter([0.0, 60.0, 60.0, 61.0, 61.0, 61.0])  # made; 9 images after a 60 s start-up; 9 more 1 s later; shown
    monkeypatch.setattr(progress_module, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    stream = io.StringIO()
    progress = Progress(300, stream=stream, every_s=3600.0)
    progress.advance(9)
    progress.advance(9)
    progress.close()
    assert stream.getvalue() == "beit-run: 18/300 images, 9.0 images/s, ETA 0:00:31\n"  # not 0.3 images/s, 16 min


def test_a_bar_is_drawn_with_tqdm():
    stream = io.StringIO()
    progress = Progress(3, mode="bar", stream=stream)
    progress.advance(3)
    progress.close()
    assert "3/3" in stream.getvalue() and "img/s" in stream.getvalue()


def test_a_resumed_run_counts_earlier_images_in_the_total_not_in_its_rate():
    stream = io.StringIO()
    progress = Progress(10, stream=stream, every_s=0.0, label="evaluate", initial=6)
    progress.note("going on from state.json")
    progress.advance(0)  # nothing done in this run yet: no rate, no ETA
    progress.advance(4)
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["evaluate: going on from state.json", "evaluate: 6/10 images"]
    assert lines[2].startswith("evaluate: 10/10 images, ") and " images/s, ETA 0:00:00" in lines[2]


def test_nothing_is_shown_before_the_first_result():
    """A run that failed while its model loaded said "beit-run: 0/5 images"; a full resume "0/0 images"."""
    for mode, total, initial in (("lines", 5, 0), ("bar", 5, 0), ("lines", 0, 5), ("bar", 0, 5)):
        stream = io.StringIO()
        progress = Progress(total, mode=mode, stream=stream, every_s=0.0, initial=initial)
        progress.close()
        assert stream.getvalue() == "", (mode, total)
    stream = io.StringIO()
    progress = Progress(5, mode="bar", stream=stream)
    progress.note("loading")  # a note before the bar is drawn is a plain line
    assert stream.getvalue() == "beit-run: loading\n"


def test_a_resumed_bar_starts_at_the_earlier_count_and_off_prints_nothing():
    stream = io.StringIO()
    progress = Progress(8, mode="bar", stream=stream, initial=5)
    progress.advance(1)
    progress.close()
    assert "6/8" in stream.getvalue()
    quiet = io.StringIO()
    silent = Progress(8, mode="off", stream=quiet, initial=5)
    silent.note("going on")
    silent.advance(3)
    silent.close()
    assert quiet.getvalue() == ""
