"""Section 1: streaming throughput of `SELECT * FROM lineitem`.

The server (ADBC, fetch_arrow_table) against the transport limit (the same client
fetching the same result, held in memory by the bare pyarrow.flight server) and the
engine limit (in-process DataFusion producing the same stream through the server's own
streaming function). Also checks the fact the server's design rests on: the C stream
interface of a DataFrame drains partitions one after another; the server runs them at once.
The peer, ROAPI (bench.peers, both modes), serves the same query to the same client.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from contextlib import contextmanager

import psutil
import pyarrow as pa
from pyarrow import flight

from bench.bare_server import HELD
from bench.clients import AdbcClient
from bench.engines import client_dataframe, datafusion_context, stream_reader
from bench.peers import RoapiMode, peer_figure, roapi_servers
from bench.processes import bare_server, flightserver, ps
from bench.results import SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import summarize
from bench.timing import interleaved

SECTION = "streaming"
QUERY = "SELECT * FROM lineitem"
_CPU_SERIES = ("server", "server_client", "engine", "transport_server", "transport_client")


@contextmanager
def _cpu_seconds(
    cpu: dict[str, list[float]], *processes: tuple[str, psutil.Process]
) -> Generator[None]:
    """Appends each process's CPU seconds (user + system) spent inside the block."""
    before = [process.cpu_times() for _, process in processes]
    yield
    for (name, process), start in zip(processes, before, strict=True):
        end = process.cpu_times()
        cpu[name].append(end.user + end.system - start.user - start.system)


def _sums(*series: list[float]) -> list[float]:
    return [sum(values) for values in zip(*series, strict=True)]


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    catalog = settings.catalog_dir
    ctx = datafusion_context(catalog)
    # The fact below is about two partitions; the server has one per core.
    scan_ctx = datafusion_context(catalog, target_partitions=2)
    rows: dict[str, int] = {}

    with (
        flightserver(catalog) as server,
        bare_server(catalog, hold_query=QUERY) as bare,
        roapi_servers(catalog) as peers,
    ):
        adbc = AdbcClient(server.uri)
        peer_clients = {mode: AdbcClient(peer.uri) for mode, peer in peers.items()}
        adbc_bare = AdbcClient(bare.uri)
        pyarrow_bare = flight.connect(bare.uri)
        # CPU seconds per query of each process taking part: the server's, the bare
        # server's, and this process's (the ADBC client, or the in-process engine).
        cpu: dict[str, list[float]] = {name: [] for name in _CPU_SERIES}
        own = psutil.Process()

        def keep(name: str, table: pa.Table) -> None:
            rows[name] = table.num_rows

        def server_query() -> None:
            with _cpu_seconds(cpu, ("server", ps(server)), ("server_client", own)):
                keep("server", adbc.query(QUERY))

        def transport_query() -> None:
            with _cpu_seconds(cpu, ("transport_server", ps(bare)), ("transport_client", own)):
                keep("transport", adbc_bare.query(QUERY))

        def engine_query() -> None:
            with _cpu_seconds(cpu, ("engine", own)):
                keep("engine", stream_reader(ctx, client_dataframe(ctx, QUERY)).read_all())

        alternatives = {
            "server": server_query,
            "transport": transport_query,
            "transport_pyarrow_client": lambda: keep(
                "transport_pyarrow_client", pyarrow_bare.do_get(flight.Ticket(HELD)).read_all()
            ),
            "engine": engine_query,
            "engine_view_types": lambda: stream_reader(ctx, ctx.sql(QUERY)).read_all(),
            "to_arrow_table": lambda: scan_ctx.sql(QUERY).to_arrow_table(),
            "c_stream": lambda: pa.RecordBatchReader.from_stream(scan_ctx.sql(QUERY)).read_all(),
            "server_stream": lambda: stream_reader(scan_ctx, scan_ctx.sql(QUERY)).read_all(),
        }
        for mode, peer_client in peer_clients.items():
            name = f"roapi_{mode.value}"
            alternatives[name] = lambda name=name, peer_client=peer_client: keep(
                name, peer_client.query(QUERY)
            )
        samples = interleaved(alternatives, settings.repeats)
        result_bytes = client_dataframe(ctx, QUERY).to_arrow_table().nbytes
        adbc.close()
        adbc_bare.close()
        for peer_client in peer_clients.values():
            peer_client.close()
        pyarrow_bare.close()

    if len(set(rows.values())) != 1:
        raise RuntimeError(f"the alternatives returned different row counts: {rows}")
    # Engine then transport, back to back: what the server costs if nothing overlaps.
    samples["engine_then_transport"] = [
        engine + transport
        for engine, transport in zip(samples["engine"], samples["transport"], strict=True)
    ]
    s = {name: summarize(values) for name, values in samples.items()}
    timed = {name: values[-settings.repeats :] for name, values in cpu.items()}  # no warm-up
    # What the machine must do for one query: the server's and its client's CPU; and the
    # same for the two limits, which never run at once.
    timed["server_and_client"] = _sums(timed["server"], timed["server_client"])
    timed["limits"] = _sums(timed["engine"], timed["transport_server"], timed["transport_client"])
    timed["cpu_floor"] = [seconds / settings.cpus for seconds in timed["server_and_client"]]
    cpu_used = {name: summarize(values) for name, values in timed.items()}
    slower_name = max(("transport", "engine"), key=lambda name: s[name].median)
    figures = [
        ratio_figure(
            SECTION,
            "SELECT * FROM lineitem, ADBC fetch_arrow_table",
            s["server"],
            f"slower limit ({slower_name})",
            s[slower_name],
            target=1.15,
        ),
        ratio_figure(
            SECTION,
            "  ... against the transport limit",
            s["server"],
            "ADBC from the bare server, result held in memory",
            s["transport"],
        ),
        ratio_figure(
            SECTION,
            "  ... against the engine limit",
            s["server"],
            "in-process DataFusion, the server's stream",
            s["engine"],
        ),
        ratio_figure(
            SECTION,
            "  ... against engine and transport back to back",
            s["server"],
            "engine limit + transport limit",
            s["engine_then_transport"],
            note="below 1: engine and transport overlap",
        ),
        ratio_figure(
            SECTION,
            "engine limit: the scan with client result types",
            s["engine"],
            "the same scan as DataFusion reads it (Utf8View)",
            s["engine_view_types"],
            note="the cast to classic string types the server adds",
        ),
        ratio_figure(
            SECTION,
            "server CPU seconds per query",
            cpu_used["server"],
            "in-process engine CPU seconds per query",
            cpu_used["engine"],
            note="what serving adds in CPU, the client's excluded",
        ),
        ratio_figure(
            SECTION,
            "server + ADBC client CPU seconds per query",
            cpu_used["server_and_client"],
            "engine limit + transport limit (bare server + client) CPU seconds",
            cpu_used["limits"],
            note="below or near 1: serving adds no work beyond the two limits'",
        ),
        ratio_figure(
            SECTION,
            "SELECT * FROM lineitem wall time against its CPU floor",
            s["server"],
            f"server + client CPU seconds / {settings.cpus} cores",
            cpu_used["cpu_floor"],
            note="near 1: bound by the cores the server and its client share",
        ),
        ratio_figure(
            SECTION,
            "C stream (RecordBatchReader.from_stream), 2 partitions",
            s["c_stream"],
            "df.to_arrow_table()",
            s["to_arrow_table"],
            note="the cost the server avoids",
        ),
        ratio_figure(
            SECTION,
            "the server's stream (partitions merged as they arrive), 2 partitions",
            s["server_stream"],
            "df.to_arrow_table()",
            s["to_arrow_table"],
            target=1.15,
        ),
    ]
    figures += [
        peer_figure(
            SECTION, "SELECT * FROM lineitem, ADBC fetch_arrow_table", s["server"], mode, s[name]
        )
        for mode in RoapiMode
        if (name := f"roapi_{mode.value}") in s
    ]
    megabytes = result_bytes / 1e6
    details = {
        "query": QUERY,
        "rows": next(iter(rows.values())),
        "result_megabytes": megabytes,
        "megabytes_per_second": {name: megabytes / s[name].median for name in s},
        "seconds": {name: values for name, values in samples.items()},
        "cpu_seconds": timed,
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
