"""benchmark.tts.parallel: results in input order for any pool size, failures in their place."""
from __future__ import annotations

import os

import pytest

from benchmark.errors import AudioError
from benchmark.tts.parallel import Failure, map_items, resolve_jobs


def _square_or_fail(x: int) -> tuple[int, int]:
    if x == 3:
        raise AudioError(f"f{x}.wav", "unreadable")
    if x == 5:
        raise KeyError("boom")
    return x * x, os.getpid()


@pytest.mark.parametrize("jobs", [1, 2, 4])
def test_order_failures_and_closures(jobs):
    offset = 10  # a closure: workers inherit it by forking, nothing is pickled on the way in
    values = map_items(lambda x: _square_or_fail(x + offset - 10), list(range(9)), jobs=jobs)
    assert [v[0] for i, v in enumerate(values) if i not in (3, 5)] == [0, 1, 4, 16, 36, 49, 64]
    assert values[3] == Failure("AudioError", "f3.wav: unreadable", True) and str(values[3]) == "f3.wav: unreadable"
    assert isinstance(values[5], Failure) and not values[5].known and str(values[5]) == "KeyError: 'boom'"
    pids = {v[1] for v in values if not isinstance(v, Failure)}
    assert (pids == {os.getpid()}) == (jobs == 1)


def test_jobs_resolution():
    assert resolve_jobs(0) == (os.cpu_count() or 1) and resolve_jobs(3) == 3
    with pytest.raises(ValueError, match="jobs must be >= 0"):
        resolve_jobs(-2)
    assert map_items(lambda x: x, [], jobs=4) == []
