"""What one benchmark run is configured with."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bench.data import DATA_DIR


@dataclass(frozen=True)
class Settings:
    scale_factor: float
    quick: bool
    repeats: int  # timed runs per measurement (after one warm-up run)
    catalog_dir: Path  # TPC-H at scale_factor, as a catalog folder
    cpus: int = os.cpu_count() or 1
    work_dir: Path = DATA_DIR  # generated scratch data (gitignored)

    @property
    def duration(self) -> float:
        """Seconds each concurrency level runs for."""
        return 3.0 if self.quick else 6.0

    @property
    def latency_samples(self) -> int:
        return 300 if self.quick else 1000
