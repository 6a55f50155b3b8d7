"""Runs the benchmarks: `python -m bench [--quick] [--scale-factor SF] [--sections ...]`.

Prints the ratio table and writes results.json, results.png and latest.md into the
output folder (docs/benchmarks). Use scripts/bench.sh, which builds the optimized
extension first.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shlex
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psutil

from bench import (
    catalog_scale,
    concurrency,
    distributed,
    latency,
    memory,
    report,
    result_cache,
    streaming,
)
from bench.data import tpch_catalog
from bench.results import Machine, RunResult, SectionResult
from bench.settings import Settings
from bench.tpch import section as tpch

REPO = Path(__file__).resolve().parents[1]
SECTIONS: dict[str, Callable[[Settings], SectionResult]] = {
    "streaming": streaming.run,
    "tpch": tpch.run,
    "latency": latency.run,
    "concurrency": concurrency.run,
    "memory": memory.run,
    "catalog": catalog_scale.run,
    "result_cache": result_cache.run,
    "distributed": distributed.run,
}
VERSIONED = ("datafusion", "pyarrow", "duckdb", "adbc-driver-flightsql", "tpchgen-cli")


def machine() -> Machine:
    return Machine(
        cpus=os.cpu_count() or 1,
        memory_gib=psutil.virtual_memory().total / 2**30,
        platform=platform.platform(terse=True),
        python=platform.python_version(),
        versions={name: importlib.metadata.version(name) for name in VERSIONED},
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="TPC-H SF0.1, fewer repeats and shorter windows (unless given)",
    )
    parser.add_argument("--scale-factor", type=float, help="TPC-H scale factor (default 1)")
    parser.add_argument("--repeats", type=int, help="timed runs per measurement (default 5)")
    parser.add_argument(
        "--sections",
        nargs="+",
        choices=sorted(SECTIONS),
        default=list(SECTIONS),
        help="which sections to run (default: all)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "docs" / "benchmarks",
        help="where results.json, results.png and latest.md go",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    scale_factor = args.scale_factor or (0.1 if args.quick else 1.0)
    repeats = args.repeats or (3 if args.quick else 5)
    settings = Settings(
        scale_factor=scale_factor,
        quick=args.quick,
        repeats=repeats,
        catalog_dir=tpch_catalog(scale_factor),
    )
    result = RunResult(
        started_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        command="scripts/bench.sh " + shlex.join(sys.argv[1:] if argv is None else argv),
        scale_factor=scale_factor,
        quick=args.quick,
        machine=machine(),
    )
    result.load_averages["start"] = os.getloadavg()
    for name in args.sections:
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        try:
            result.sections.append(SECTIONS[name](settings))
        except Exception as exc:  # one failed section must not lose the others' results
            traceback.print_exc()
            result.sections.append(
                SectionResult(name, time.perf_counter() - started, error=f"{exc!r}")
            )
        result.load_averages[f"after {name}"] = os.getloadavg()
        print(f"   {time.perf_counter() - started:.0f} s", flush=True)
    print()
    print(report.text_table(result))
    report.write(result, args.output)
    print(f"\nwrote {args.output}/results.json, results.png, latest.md")
    return 1 if any(section.error for section in result.sections) else 0


if __name__ == "__main__":
    sys.exit(main())
