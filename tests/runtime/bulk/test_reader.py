"""The pipelined reader: results in order, never more than ``depth`` chunks prepared ahead, errors raised."""

from __future__ import annotations

import threading

import pytest

from beit_runtime.bulk.reader import prefetched


def test_results_come_in_order_with_a_bounded_number_ahead():
    lock = threading.Lock()
    started, consumed, most_ahead = [0], [0], [0]

    def prepare(chunk):
        with lock:
            started[0] += 1
            most_ahead[0] = max(most_ahead[0], started[0] - consumed[0])
        return chunk * 10

    results = []
    for value in prefetched(range(50), prepare, threads=2, depth=3):
        results.append(value)
        consumed[0] += 1
    assert results == [i * 10 for i in range(50)]
    assert most_ahead[0] <= 3 + 1  # the chunk being handed over plus at most `depth` ahead


def test_an_error_in_prepare_is_raised_at_its_chunk():
    def prepare(chunk):
        if chunk == 3:
            raise ValueError("chunk 3 is bad")
        return chunk

    seen = []
    with pytest.raises(ValueError, match="chunk 3 is bad"):
        for value in prefetched(range(10), prepare, threads=2, depth=2):
            seen.append(value)
    assert seen == [0, 1, 2]
