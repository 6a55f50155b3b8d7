"""The catalog a reliability run serves, and the states its tables committed.

Every table holds one BIGINT column `v`; a state is the (row count, sum of v)
pair of a committed version. Writers record each state before and after they
commit, so a reader's (count, sum) must be one of its table's recorded states:
a torn read (files of two versions, a half-applied replace) is not one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

State = tuple[int, int]  # (rows, sum of v)

EVENTS = "events"  # Delta, written through the server (ingest append and replace)
EXTERNAL = "ext"  # Delta, written by another process (deltalake); seen through re-pins
POINTS = "points"  # Parquet; its definition flips between two folders on refresh
MADE = "made"  # CREATE TABLE AS, once; must come back after the restart
HALF = "half"  # the ingest the SIGKILL interrupts; must never become visible
QUALIFIED = "datafusion.public."


def rows(start: int, count: int) -> pa.Table:
    return pa.table({"v": pa.array(range(start, start + count), pa.int64())})


def state_of(table: pa.Table) -> State:
    return table.num_rows, int(pc.sum(table.column("v")).as_py() or 0)


@dataclass
class States:
    """Every state one table committed (or may have: a write in flight)."""

    seen: set[State] = field(default_factory=set[State])
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, state: State) -> None:
        with self.lock:
            self.seen.add(state)

    def __contains__(self, state: object) -> bool:
        with self.lock:
            return state in self.seen


@dataclass
class Lake:
    root: Path
    states: dict[str, States] = field(default_factory=dict[str, States])

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    def location(self, table: str) -> Path:
        return self.catalog_dir / "data" / table

    def managed_location(self, table: str) -> Path:
        """Where the server keeps a table it created (ingest, CREATE TABLE AS)."""
        return self.state_dir / "tables" / "datafusion" / "public" / table

    @classmethod
    def build(cls, root: Path) -> Lake:
        lake = cls(root)
        root.mkdir(parents=True, exist_ok=True)
        for name in (EVENTS, EXTERNAL, POINTS):
            lake.states[name] = States()
        (lake.catalog_dir / "tables").mkdir(parents=True)
        lake.state_dir.mkdir()
        for name, start in ((EVENTS, 0), (EXTERNAL, 10_000)):
            initial = rows(start, 100)
            write_deltalake(lake.location(name), initial)
            lake.states[name].add(state_of(initial))
            lake.define(name, f'format = "delta"\nlocation = "data/{name}"\n')
        for side, start in (("a", 0), ("b", 50_000)):
            folder = lake.catalog_dir / "data" / f"points_{side}"
            folder.mkdir(parents=True)
            content = rows(start, 500 if side == "a" else 700)
            pq.write_table(content, folder / "part-0.parquet")
            lake.states[POINTS].add(state_of(content))
        lake.point_at("a")
        return lake

    def define(self, name: str, body: str) -> None:
        path = self.catalog_dir / "tables" / f"{name}.toml"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(f'name = "{name}"\n{body}')
        temporary.replace(path)  # a refresh never reads half a file

    def point_at(self, side: str) -> None:
        """The `points` definition reads folder a or b; b also declares its columns."""
        columns = 'columns = [{ name = "v", type = "BIGINT" }]\n' if side == "b" else ""
        self.define(POINTS, f'format = "parquet"\nlocation = "data/points_{side}/"\n{columns}')

    def committed(self, name: str) -> tuple[int, State]:
        """The Delta table's newest committed version and its state, from its log."""
        table = DeltaTable(str(self.location(name)))
        return table.version(), state_of(pa.table(table.to_pyarrow_table()))
