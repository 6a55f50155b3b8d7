"""Runs alternatives in turn, so each repetition sees the same machine noise."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from bench.stats import seconds


def interleaved(
    alternatives: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per run of each alternative: `warmup` untimed rounds, then `repeats` timed ones.

    Round-robin rather than one alternative after another: on a shared machine a burst
    of load then hits all alternatives alike instead of one.
    """
    for _ in range(warmup):
        for action in alternatives.values():
            action()
    samples: dict[str, list[float]] = {name: [] for name in alternatives}
    for _ in range(repeats):
        for name, action in alternatives.items():
            samples[name].append(seconds(action))
    return samples
