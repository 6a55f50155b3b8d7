"""What a run produces: figures (a measurement against its limit) and per-section details."""

from __future__ import annotations

from typing import Any

import msgspec

from bench.stats import Summary


class Figure(msgspec.Struct, frozen=True):
    """One measured quantity, compared with a limit measured in the same run.

    `ratio` is candidate cost over limit cost (times, or time per query), so 1.0 means
    "as fast as the limit" and larger is slower; figures without a limit have none.
    """

    section: str
    name: str
    unit: str
    candidate: Summary
    limit_name: str | None = None
    limit: Summary | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    note: str = ""


def ratio_figure(
    section: str,
    name: str,
    candidate: Summary,
    limit_name: str,
    limit: Summary,
    *,
    unit: str = "s",
    target: float | None = None,
    note: str = "",
    ratio: float | None = None,
) -> Figure:
    """A figure met when its ratio is at most `target`; the ratio is median over median
    unless given (a geometric mean of per-query ratios, for example)."""
    if ratio is None:
        ratio = candidate.median / limit.median
    return Figure(
        section=section,
        name=name,
        unit=unit,
        candidate=candidate,
        limit_name=limit_name,
        limit=limit,
        ratio=ratio,
        target=None if target is None else f"<= {target:.2f}x",
        met=None if target is None else ratio <= target,
        note=note,
    )


class SectionResult(msgspec.Struct):
    """A section's figures plus whatever detail tables it reports."""

    name: str
    seconds: float
    figures: list[Figure] = msgspec.field(default_factory=list)
    details: dict[str, Any] = msgspec.field(default_factory=dict)
    error: str | None = None


class Machine(msgspec.Struct, frozen=True):
    cpus: int
    memory_gib: float
    platform: str
    python: str
    versions: dict[str, str]


class RunResult(msgspec.Struct):
    started_at: str
    command: str
    scale_factor: float
    quick: bool
    machine: Machine
    sections: list[SectionResult] = msgspec.field(default_factory=list)
    # The machine's 1/5/15-minute load averages at the start and after each section:
    # other people's work on the same cores, which the ratios cannot fully cancel.
    load_averages: dict[str, tuple[float, float, float]] = msgspec.field(default_factory=dict)

    @property
    def figures(self) -> list[Figure]:
        return [figure for section in self.sections for figure in section.figures]
