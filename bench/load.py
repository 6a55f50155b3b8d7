"""Concurrent clients, each in its own process, running a workload for a fixed window.

Processes rather than threads, so the clients' own Python work never serializes them
on one interpreter lock and what contends is the server. The workers are started once
and reused for every level and workload.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import msgspec

from bench.clients import ClientKind, connect


class Job(msgspec.Struct, frozen=True):
    kind: ClientKind
    uri: str
    queries: list[str]
    start_at: float  # time.time() at which every client starts
    duration: float


class ClientRun(msgspec.Struct, frozen=True):
    """One client's calls in the window: when each finished (since start) and how long it took."""

    finished: list[float]
    latencies: list[float]
    errors: list[str]


def _worker(pipe: Connection, index: int) -> None:
    while True:
        message = pipe.recv()
        if message is None:
            return
        job = msgspec.msgpack.decode(message, type=Job)
        pipe.send(msgspec.msgpack.encode(_run(job, index)))


def _run(job: Job, index: int) -> ClientRun:
    client = connect(job.kind, job.uri)
    finished: list[float] = []
    latencies: list[float] = []
    errors: list[str] = []
    try:
        client.query(job.queries[0])  # warm the connection (workloads start light)
        time.sleep(max(0.0, job.start_at - time.time()))
        start = time.perf_counter()
        end = start + job.duration
        call = index  # clients start at different points of the workload
        while (now := time.perf_counter()) < end:
            try:
                client.query(job.queries[call % len(job.queries)])
            except Exception as exc:  # recorded and reported; the window goes on
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
            done = time.perf_counter()
            finished.append(done - start)
            latencies.append(done - now)
            call += 1
    finally:
        client.close()
    return ClientRun(finished, latencies, errors)


class ClientPool:
    def __init__(self, size: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipes: list[Connection] = []
        self._processes: list[BaseProcess] = []
        for index in range(size):
            parent, child = context.Pipe()
            process = context.Process(target=_worker, args=(child, index), daemon=True)
            process.start()
            self._pipes.append(parent)
            self._processes.append(process)

    def run(
        self,
        clients: int,
        *,
        kind: ClientKind,
        uri: str,
        queries: list[str],
        start_at: float,
        duration: float,
    ) -> list[ClientRun]:
        """`clients` clients run `queries` round-robin from `start_at` (time.time()) on."""
        job = Job(kind, uri, queries, start_at, duration)
        message = msgspec.msgpack.encode(job)
        for pipe in self._pipes[:clients]:
            pipe.send(message)
        return [
            msgspec.msgpack.decode(pipe.recv(), type=ClientRun) for pipe in self._pipes[:clients]
        ]

    def close(self) -> None:
        for pipe in self._pipes:
            pipe.send(None)
        for process in self._processes:
            process.join(10)
