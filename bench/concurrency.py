"""Section 4: 1 to 16 concurrent clients, tiny queries and a mixed workload.

Each level runs for a fixed window; throughput is completed queries per second (its
min/median/max over three slices of the window) and p99 is over every call. The limit is
the bare pyarrow.flight + DataFusion server driven by the same clients with the same
queries. The clients are ADBC's, and for tiny queries also Flight SQL over pyarrow.flight
(cheaper clients leave more of a small machine to the server). The server's CPU use
(psutil) is recorded per level. Afterwards the tiny-query ADBC load at the highest level
runs again under py-spy (profiling slows the server, so never while measuring).
The peer, ROAPI (bench.peers, both modes), runs the tiny queries with ADBC clients at
1, 4 and 16 clients: the target is our throughput at or above its at each, with our
defaults (the 25 tiny texts repeat, so the result cache answers most) and with the
result cache off (each query planned and run).
"""

from __future__ import annotations

import subprocess
import threading
import time
from contextlib import closing
from typing import Any

import psutil

from bench.clients import ClientKind
from bench.load import ClientPool, ClientRun
from bench.peers import RoapiMode, peer_figure, roapi_servers
from bench.processes import RESULT_CACHE_OFF, ServerProcess, bare_server, flightserver
from bench.profile import record, summarize_profile
from bench.results import Figure, SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import Summary, percentile, summarize
from bench.tpch.texts import tpch_queries

SECTION = "concurrency"
LEVELS = (1, 2, 4, 8, 16)
PEER_LEVELS = (1, 4, 16)
PEER_WORKLOAD = "tiny queries"
SLICES = 3
TINY = [f"SELECT n_name, n_regionkey FROM nation WHERE n_nationkey = {key}" for key in range(25)]


def mixed_workload(scale_factor: float) -> list[str]:
    """Point queries between two TPC-H aggregations, a join, and a 10,000-row fetch."""
    tpch = tpch_queries(scale_factor)
    return [
        TINY[0],
        tpch["q06"],
        TINY[1],
        tpch["q14"],
        TINY[2],
        "SELECT * FROM orders WHERE o_orderkey <= 40000",
        TINY[3],
        tpch["q03"],
    ]


class CpuWindow(threading.Thread):
    """CPU seconds the server process and the whole machine spend inside the window."""

    def __init__(self, pid: int, start_at: float, duration: float) -> None:
        super().__init__(daemon=True)
        self._process = psutil.Process(pid)
        self._start_at = start_at
        self._duration = duration
        self.server_cores = 0.0
        self.machine_busy = 0.0  # fraction of all cores

    def run(self) -> None:
        time.sleep(max(0.0, self._start_at - time.time()))
        before = self._process.cpu_times()
        machine_before = psutil.cpu_times()
        time.sleep(self._duration)
        after = self._process.cpu_times()
        machine_after = psutil.cpu_times()
        used = (after.user - before.user) + (after.system - before.system)
        self.server_cores = used / self._duration
        idle = machine_after.idle - machine_before.idle
        total = sum(machine_after) - sum(machine_before)
        self.machine_busy = 1.0 - idle / total if total else 0.0


def _seconds_per_query(runs: list[ClientRun], duration: float) -> list[float]:
    """Seconds per completed query in each slice of the window (slices with none skipped)."""
    width = duration / SLICES
    counts = [0] * SLICES
    for run in runs:
        for finished in run.finished:
            index = int(finished / width)
            if index < SLICES:
                counts[index] += 1
    return [width / count for count in counts if count]


def measure_level(
    pool: ClientPool,
    server: ServerProcess,
    *,
    clients: int,
    kind: ClientKind,
    queries: list[str],
    duration: float,
) -> dict[str, Any]:
    start_at = time.time() + 1.0 + 0.2 * clients  # every client connected and warm
    cpu = CpuWindow(server.pid, start_at, duration)
    cpu.start()
    runs = pool.run(
        clients, kind=kind, uri=server.uri, queries=queries, start_at=start_at, duration=duration
    )
    cpu.join()
    latencies = [latency for run in runs for latency in run.latencies]
    completed = sum(1 for run in runs for finished in run.finished if finished < duration)
    errors = [error for run in runs for error in run.errors]
    per_query = _seconds_per_query(runs, duration)
    return {
        "clients": clients,
        "queries_per_second": completed / duration,
        "seconds_per_query": msgspec_summary(per_query),
        "p50_ms": percentile(latencies, 0.5) * 1e3 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) * 1e3 if latencies else None,
        "server_cpu_cores": cpu.server_cores,
        "machine_cpu_busy": cpu.machine_busy,
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def msgspec_summary(values: list[float]) -> dict[str, float]:
    summary = summarize(values)
    return {"min": summary.min, "median": summary.median, "max": summary.max, "n": summary.n}


def _summary(level: dict[str, Any]) -> Summary:
    return Summary(**level["seconds_per_query"])


def _workload_figures(
    name: str, levels: list[dict[str, Any]], limit_levels: list[dict[str, Any]], cpus: int
) -> list[Figure]:
    by_clients = {level["clients"]: level for level in levels}
    peak = max(levels, key=lambda level: level["queries_per_second"])
    top = by_clients[max(by_clients)]
    at_cores = by_clients[max(c for c in by_clients if c <= cpus)]
    one = _summary(by_clients[1])
    ideal = Summary(one.min / cpus, one.median / cpus, one.max / cpus, one.n)
    limit_top = {level["clients"]: level for level in limit_levels}[top["clients"]]
    return [
        ratio_figure(
            SECTION,
            f"{name}, {top['clients']} clients, time per query",
            _summary(top),
            f"bare server, {top['clients']} clients",
            _summary(limit_top),
        ),
        ratio_figure(
            SECTION,
            f"{name}, scaling to {cpus} cores: {at_cores['clients']} clients",
            _summary(at_cores),
            f"1 client's time per query / {cpus}",
            ideal,
            target=1.25,
            note="clients share the cores with the server",
        ),
        ratio_figure(
            SECTION,
            f"{name}, beyond the cores: {top['clients']} clients",
            _summary(top),
            f"peak ({peak['clients']} clients)",
            _summary(peak),
            target=1.10,
        ),
    ]


# Our servers the peer is compared with: as configured by default, and with the
# result cache off (every query planned and run, as a first pass or new data would).
OURS = {"server": "", "server_uncached": " (result cache off)"}


def _peer_figures(results: dict[str, list[dict[str, Any]]]) -> list[Figure]:
    """Our time per tiny query against ROAPI's, per client count (its inverse is q/s)."""
    figures: list[Figure] = []
    for server, label in OURS.items():
        ours = {level["clients"]: level for level in results[server]}
        for mode in RoapiMode:
            for level in results[f"roapi_{mode.value}"]:
                clients = level["clients"]
                figures.append(
                    peer_figure(
                        SECTION,
                        f"{PEER_WORKLOAD}, ADBC, {clients} clients, time per query{label}",
                        _summary(ours[clients]),
                        mode,
                        _summary(level),
                        note=f"ours {ours[clients]['queries_per_second']:.0f} q/s, "
                        f"ROAPI {level['queries_per_second']:.0f} q/s",
                    )
                )
    return figures


def _profile(
    pool: ClientPool, target: ServerProcess, name: str, settings: Settings, gil_only: bool
) -> dict[str, Any]:
    """py-spy on `target` while 16 ADBC clients run tiny queries against it."""
    clients = max(LEVELS)
    mode = f"{name}, {'GIL holder' if gil_only else 'active threads'}"
    directory = settings.work_dir / "profiles"
    directory.mkdir(parents=True, exist_ok=True)
    output = directory / f"{name}-tiny-{clients}-{'gil' if gil_only else 'active'}.txt"
    start_at = time.time() + 1.0 + 0.2 * clients
    spy: list[subprocess.Popen[bytes]] = []
    starter = threading.Timer(
        max(0.0, start_at - time.time()),
        lambda: spy.append(record(target.pid, settings.duration, output, gil_only)),
    )
    starter.start()
    pool.run(
        clients,
        kind=ClientKind.ADBC,
        uri=target.uri,
        queries=TINY,
        start_at=start_at,
        duration=settings.duration + 1,
    )
    starter.join()
    _, stderr = spy[0].communicate()
    if spy[0].returncode != 0 or not output.exists():
        return {"mode": mode, "error": stderr.decode()[-500:]}
    summary = summarize_profile(output, mode)
    return {
        "mode": summary.mode,
        "samples": summary.samples,
        "raw_path": summary.raw_path,
        "self_time": [(s.frame, s.share) for s in summary.self_time],
        "inclusive_time": [(s.frame, s.share) for s in summary.inclusive_time],
        "gil_wait": summary.gil_wait,
        "gil_wait_sites": [(s.frame, s.share) for s in summary.gil_wait_sites],
    }


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    catalog = settings.catalog_dir
    # The pyarrow.flight clients cost far less CPU than the ADBC driver's, so on a small
    # machine they leave more of it to the server: the server's own ceiling.
    workloads: dict[str, tuple[ClientKind, list[str]]] = {
        "tiny queries": (ClientKind.ADBC, TINY),
        "mixed workload": (ClientKind.ADBC, mixed_workload(settings.scale_factor)),
        "tiny queries, pyarrow.flight clients": (ClientKind.FLIGHT_SQL, TINY),
    }
    measured: dict[str, dict[str, list[dict[str, Any]]]] = {}
    profiles: list[dict[str, Any]] = []
    with (
        closing(ClientPool(max(LEVELS))) as pool,
        flightserver(catalog) as server,
        flightserver(catalog, *RESULT_CACHE_OFF) as uncached,
        bare_server(catalog) as bare,
        roapi_servers(catalog) as peers,
    ):
        for workload, (kind, queries) in workloads.items():
            for target_name, target in (("server", server), ("bare", bare)):
                levels = []
                for clients in LEVELS:
                    print(f"  {workload}, {target_name}, {clients} clients", flush=True)
                    levels.append(
                        measure_level(
                            pool,
                            target,
                            clients=clients,
                            kind=kind,
                            queries=queries,
                            duration=settings.duration,
                        )
                    )
                measured.setdefault(workload, {})[target_name] = levels
        peer_targets = {"server_uncached": uncached}
        peer_targets.update({f"roapi_{mode.value}": peer for mode, peer in peers.items()})
        for name, peer in peer_targets.items():
            print(f"  {PEER_WORKLOAD}, {name}", flush=True)
            measured[PEER_WORKLOAD][name] = [
                measure_level(
                    pool,
                    peer,
                    clients=clients,
                    kind=ClientKind.ADBC,
                    queries=TINY,
                    duration=settings.duration,
                )
                for clients in PEER_LEVELS
            ]
        print("  profiling the servers under the tiny-query load", flush=True)
        profiles = [
            _profile(pool, server, "server", settings, gil_only=False),
            _profile(pool, server, "server", settings, gil_only=True),
            _profile(pool, uncached, "server, result cache off", settings, gil_only=False),
            _profile(pool, bare, "bare server", settings, gil_only=False),
        ]

    figures = [
        figure
        for workload, results in measured.items()
        for figure in _workload_figures(workload, results["server"], results["bare"], settings.cpus)
    ]
    figures += _peer_figures(measured[PEER_WORKLOAD])
    details = {
        "levels": list(LEVELS),
        "peer_levels": list(PEER_LEVELS),
        "window_seconds": settings.duration,
        "client": "one process per client",
        "workloads": {
            name: {"client": kind.value, "queries": [*queries[:3], "..."]}
            for name, (kind, queries) in workloads.items()
        },
        "results": measured,
        "profiles": profiles,
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
