"""Summaries of repeated measurements, and the timing helpers that produce them."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence

import msgspec


class Summary(msgspec.Struct, frozen=True):
    """min/median/max (and p99 for latency samples) of one measured quantity."""

    min: float
    median: float
    max: float
    n: int
    p99: float | None = None


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest sample at or above `fraction` of them."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def summarize(samples: Sequence[float], with_p99: bool = False) -> Summary:
    if not samples:
        raise ValueError("no samples to summarize")
    return Summary(
        min=min(samples),
        median=statistics.median(samples),
        max=max(samples),
        n=len(samples),
        p99=percentile(samples, 0.99) if with_p99 else None,
    )


def seconds(action: Callable[[], object]) -> float:
    """Wall-clock seconds one call of `action` takes."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def geometric_mean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(value) for value in values))


def constant(value: float) -> Summary:
    """A quantity measured once (a limit that does not vary)."""
    return Summary(value, value, value, 1)
