"""Peer servers measured in the same run as ours: ROAPI (a Rust Flight SQL server on
DataFusion, the `roapi` package of the bench group), on the same TPC-H Parquet files.

ROAPI runs in both of its modes: `memory`, its default (every table copied into memory at
start), and `parquet` (`use_memory_table=false`: DataFusion reads the files per query, as
our server does).
"""

from __future__ import annotations

import importlib.metadata
import re
import shutil
import sys
from collections.abc import Generator
from contextlib import ExitStack, contextmanager
from enum import StrEnum
from pathlib import Path

from bench.data import TPCH_TABLES
from bench.results import Figure, ratio_figure
from bench.stats import Summary
from tests.server_process import ServerProcess

# ROAPI logs "Listening on 127.0.0.1:PORT for FlightSQL traffic..." once it serves.
_ROAPI_LISTENING = re.compile(r"Listening on (\S+) for FlightSQL traffic")
_START_TIMEOUT = 600.0  # the memory mode loads SF1's lineitem before it listens
ROAPI_VERSION = importlib.metadata.version("roapi")


class RoapiMode(StrEnum):
    MEMORY = "memory"
    PARQUET = "parquet"


def roapi_command() -> str:
    """The `roapi` executable of this environment (the bench group installs it)."""
    beside = Path(sys.executable).parent / "roapi"
    found = str(beside) if beside.exists() else shutil.which("roapi")
    if found is None:
        raise RuntimeError("roapi is not installed: run scripts/setup.sh (bench group)")
    return found


def roapi(catalog_dir: Path, mode: RoapiMode) -> ServerProcess:
    """ROAPI serving the TPC-H tables of `catalog_dir` (`<table>.parquet` files) over
    Flight SQL on a free loopback port; its HTTP and Postgres ports too are free ones."""
    options = "" if mode is RoapiMode.MEMORY else ",format=parquet,use_memory_table=false"
    tables = [
        arg
        for table in TPCH_TABLES
        for arg in ("--table", f"{table}={catalog_dir / f'{table}.parquet'}{options}")
    ]
    return ServerProcess.start(
        tables,
        env={"RUST_LOG": "info"},
        timeout=_START_TIMEOUT,
        command=(
            roapi_command(),
            "--addr-flight-sql",
            "127.0.0.1:0",
            "--addr-http",
            "127.0.0.1:0",
            "--addr-postgres",
            "127.0.0.1:0",
        ),
        listening=_ROAPI_LISTENING,
    )


@contextmanager
def roapi_servers(catalog_dir: Path) -> Generator[dict[RoapiMode, ServerProcess]]:
    """ROAPI in both modes, running inside the block."""
    with ExitStack() as stack:
        yield {mode: stack.enter_context(roapi(catalog_dir, mode)) for mode in RoapiMode}


def peer_figure(
    section: str,
    name: str,
    ours: Summary,
    mode: RoapiMode,
    theirs: Summary,
    *,
    percentile: str = "p50",
    note: str = "peer, same run",
    ratio: float | None = None,
) -> Figure:
    """Our time against ROAPI's in `mode`, met when ours is at or below its.

    `percentile` "p99" compares the p99s of latency samples; `ratio`, when given, is
    used as it is (a geometric mean of per-query ratios, for example).
    """
    if ratio is None and percentile == "p99":
        assert ours.p99 is not None and theirs.p99 is not None
        ratio = ours.p99 / theirs.p99
    return ratio_figure(
        section,
        f"{name} ({percentile})" if percentile == "p99" else name,
        ours,
        f"ROAPI {ROAPI_VERSION}, {mode.value} mode",
        theirs,
        target=1.0,
        ratio=ratio,
        note=note,
    )
