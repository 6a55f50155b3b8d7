"""Section 3: small-query latency, p50 and p99 of full round trips (GetFlightInfo, DoGet).

A point query on `nation` (25 rows), its key changing every call, through:
- the server with ADBC (what users see; the driver first tries to prepare every new
  query text, so the same text repeated is measured too) and with Flight SQL over bare
  pyarrow.flight (no driver: the server's share of the round trip); with its defaults
  the 25 keys' answers come from the result cache after the first round, so the
  server also runs with the result cache off (each query planned and executed);
- the bare pyarrow.flight + DataFusion server, the same clients (the limit: what a
  round trip costs without our Flight SQL layer);
- the bare server's held result (the transport floor: no engine at all);
- in-process DataFusion (the engine's share);
- a prepared statement re-executed with new parameters (ADBC), if the server has them;
- the peer, ROAPI, in its memory and Parquet modes, through ADBC (bench.peers): the
  target is our p50 and p99 at or below its.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.clients import AdbcClient, BareClient, FlightSqlClient
from bench.engines import datafusion_context
from bench.peers import RoapiMode, peer_figure, roapi_servers
from bench.processes import RESULT_CACHE_OFF, bare_server, flightserver
from bench.results import Figure, SectionResult, ratio_figure
from bench.settings import Settings
from bench.stats import Summary, seconds, summarize

SECTION = "latency"
POINT = "SELECT n_name, n_regionkey FROM nation WHERE n_nationkey = {key}"
PREPARED = "SELECT n_name, n_regionkey FROM nation WHERE n_nationkey = ?"
HELD = POINT.format(key=7)
TARGET_P50_SECONDS = 0.001
NATIONS = 25


def _point(call: int) -> str:
    return POINT.format(key=call % NATIONS)


def _latency_figure(name: str, candidate: Summary, limit_name: str, limit: Summary) -> Figure:
    """p50 against the limit's p50, met when under the absolute 1 ms target."""
    assert candidate.p99 is not None
    return Figure(
        section=SECTION,
        name=name,
        unit="s",
        candidate=candidate,
        limit_name=limit_name,
        limit=limit,
        ratio=candidate.median / limit.median,
        target="p50 < 1 ms",
        met=candidate.median < TARGET_P50_SECONDS,
        note=f"p99 {candidate.p99 * 1e3:.2f} ms (limit {(limit.p99 or 0) * 1e3:.2f} ms)",
    )


def _sample(alternatives: dict[str, Callable[[int], object]], calls: int) -> dict[str, list[float]]:
    """Seconds per call of each alternative, round-robin, after 20 warm-up calls each."""
    for call in range(20):
        for action in alternatives.values():
            action(call)
    samples: dict[str, list[float]] = {name: [] for name in alternatives}
    for call in range(calls):
        for name, action in alternatives.items():
            samples[name].append(seconds(lambda action=action, call=call: action(call)))
    return samples


def _prepared_supported(client: AdbcClient) -> str | None:
    """None if the server executes a parameterized statement, else why not."""
    try:
        table = client.query(PREPARED, (7,))
    except Exception as exc:  # the driver raises its own error classes
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    if table.num_rows != 1:
        return f"prepared statement returned {table.num_rows} rows, expected 1"
    return None


def run(settings: Settings) -> SectionResult:
    started = time.perf_counter()
    catalog = settings.catalog_dir
    ctx = datafusion_context(catalog)
    with (
        flightserver(catalog) as server,
        flightserver(catalog, *RESULT_CACHE_OFF) as uncached,
        bare_server(catalog, hold_query=HELD) as bare,
        roapi_servers(catalog) as peers,
    ):
        server_adbc = AdbcClient(server.uri)
        uncached_adbc = AdbcClient(uncached.uri)
        server_prepared = AdbcClient(server.uri)
        server_flightsql = FlightSqlClient(server.uri)
        bare_adbc = AdbcClient(bare.uri)
        bare_pyarrow = BareClient(bare.uri)
        # Their own connections: the ADBC driver re-prepares whenever the text changes.
        server_same_text = AdbcClient(server.uri)
        transport_adbc = AdbcClient(bare.uri)
        peer_clients = {mode: AdbcClient(peer.uri) for mode, peer in peers.items()}
        alternatives: dict[str, Callable[[int], object]] = {
            "server_adbc": lambda call: server_adbc.query(_point(call)),
            "server_adbc_uncached": lambda call: uncached_adbc.query(_point(call)),
            "server_flightsql": lambda call: server_flightsql.query(_point(call)),
            "bare_adbc": lambda call: bare_adbc.query(_point(call)),
            "bare_pyarrow": lambda call: bare_pyarrow.query(_point(call)),
            "server_adbc_same_text": lambda _call: server_same_text.query(HELD),
            "transport_adbc": lambda _call: transport_adbc.query(HELD),
            "transport_pyarrow": lambda _call: bare_pyarrow.query(HELD),
            "in_process": lambda call: ctx.sql(_point(call)).to_arrow_table(),
        }
        for mode, peer_client in peer_clients.items():
            alternatives[f"roapi_{mode.value}_adbc"] = lambda call, peer_client=peer_client: (
                peer_client.query(_point(call))
            )
        prepared_problem = _prepared_supported(server_prepared)
        if prepared_problem is None:
            alternatives["server_prepared_adbc"] = lambda call: server_prepared.query(
                PREPARED, (call % NATIONS,)
            )
        samples = _sample(alternatives, settings.latency_samples)
        for client in (
            server_adbc,
            uncached_adbc,
            server_prepared,
            server_flightsql,
            bare_adbc,
            bare_pyarrow,
            server_same_text,
            transport_adbc,
            *peer_clients.values(),
        ):
            client.close()

    s = {name: summarize(values, with_p99=True) for name, values in samples.items()}
    figures = [
        _latency_figure(
            "point query round trip, ADBC", s["server_adbc"], "bare server, ADBC", s["bare_adbc"]
        ),
        _latency_figure(
            "point query round trip, Flight SQL over pyarrow.flight",
            s["server_flightsql"],
            "bare server, pyarrow.flight",
            s["bare_pyarrow"],
        ),
        _latency_figure(
            "the same query text repeated, ADBC",
            s["server_adbc_same_text"],
            "bare server, ADBC, result held in memory",
            s["transport_adbc"],
        ),
        ratio_figure(
            SECTION,
            "bare server point query, pyarrow.flight (engine's share)",
            s["bare_pyarrow"],
            "the same round trip, result held in memory",
            s["transport_pyarrow"],
        ),
    ]
    figures.append(
        _latency_figure(
            "point query round trip, ADBC, result cache off",
            s["server_adbc_uncached"],
            "bare server, ADBC",
            s["bare_adbc"],
        )
    )
    for ours, label in (("server_adbc", ""), ("server_adbc_uncached", ", result cache off")):
        for mode in RoapiMode:
            for percentile in ("p50", "p99"):
                figures.append(
                    peer_figure(
                        SECTION,
                        f"point query round trip, ADBC{label}",
                        s[ours],
                        mode,
                        s[f"roapi_{mode.value}_adbc"],
                        percentile=percentile,
                    )
                )
    if "server_prepared_adbc" in s:
        figures.append(
            _latency_figure(
                "prepared statement re-executed, new parameters, ADBC",
                s["server_prepared_adbc"],
                "bare server, ADBC, literal query",
                s["bare_adbc"],
            )
        )
    details = {
        "point_query": POINT,
        "milliseconds": {
            name: {"p50": summary.median * 1e3, "p99": (summary.p99 or 0) * 1e3}
            for name, summary in s.items()
        },
        "prepared_statements": "measured"
        if prepared_problem is None
        else f"not measured: {prepared_problem}",
    }
    return SectionResult(SECTION, time.perf_counter() - started, figures, details)
