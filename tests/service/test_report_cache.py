"""The report view's candle cache: concurrent misses of one run load it once (the view asks /ohlc and /equity at
the same moment), misses of different runs load side by side, a failed load is not cached."""

from __future__ import annotations

import threading
import time

import pytest

from spark.service.report import CandleCache


def _slow(calls: list[str], name: str, seconds: float = 0.2):
    def load():
        calls.append(f"start {name}")
        time.sleep(seconds)
        calls.append(f"end {name}")
        return name  # the cache holds whatever the loader made

    return load


def _together(*jobs) -> list[object]:
    results: list[object] = [None] * len(jobs)

    def run(i, job):
        results[i] = job()

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results


def test_concurrent_misses_of_one_key_load_it_once() -> None:
    cache, calls = CandleCache(), []
    key = ("bt-1", "stamp")
    results = _together(*[lambda: cache.get(key, _slow(calls, "a"))] * 4)
    assert results == ["a"] * 4
    assert calls == ["start a", "end a"]


def test_misses_of_different_keys_load_side_by_side() -> None:
    cache, calls = CandleCache(), []
    _together(
        lambda: cache.get(("bt-1", None), _slow(calls, "a")), lambda: cache.get(("bt-2", None), _slow(calls, "b"))
    )
    assert calls[:2] in (["start a", "start b"], ["start b", "start a"])


def test_a_failed_load_is_raised_and_not_cached() -> None:
    cache = CandleCache()

    def broken():
        raise ValueError("feed gone")

    with pytest.raises(ValueError, match="feed gone"):
        cache.get(("bt-1", None), broken)
    assert cache.get(("bt-1", None), lambda: "read again") == "read again"


def test_only_the_last_few_runs_are_kept() -> None:
    cache, calls = CandleCache(size=2), []
    for name in ("a", "b", "c"):
        cache.get((name, None), _slow(calls, name, 0))
    cache.get(("a", None), _slow(calls, "a2", 0))
    assert calls[-2:] == ["start a2", "end a2"]  # a was evicted by c
