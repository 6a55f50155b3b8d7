"""Deletion vectors written by hand, per the Delta protocol, for reader tests.

`deltalake` 1.6.6 never writes deletion vectors (its DELETE, UPDATE and MERGE
rewrite files), so tables with them, as Spark or Databricks leave them, are
made here: a `deletion_vector_<uuid>.bin` file holding one RoaringTreemap
(portable serialization, array containers), and a commit that removes the data
file and adds it again with the vector's descriptor.
"""

from __future__ import annotations

import json
import struct
import time
import uuid
import zlib
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

_DV_MAGIC = 1681511377  # RoaringBitmapArray, little-endian
_ROARING_NO_RUNS_COOKIE = 12346
_Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"


def z85(data: bytes) -> str:
    """ZeroMQ's Base85 (the encoding of a relative DV path's UUID)."""
    assert len(data) % 4 == 0
    out: list[str] = []
    for start in range(0, len(data), 4):
        value = int.from_bytes(data[start : start + 4], "big")
        chunk = ""
        for _ in range(5):
            value, digit = divmod(value, 85)
            chunk = _Z85[digit] + chunk
        out.append(chunk)
    return "".join(out)


def _roaring32(values: list[int]) -> bytes:
    """A 32-bit Roaring bitmap, portable format, array/bitmap containers, no runs."""
    containers: dict[int, list[int]] = defaultdict(list)
    for value in sorted(set(values)):
        containers[value >> 16].append(value & 0xFFFF)
    keys = sorted(containers)
    header = struct.pack("<II", _ROARING_NO_RUNS_COOKIE, len(keys))
    header += b"".join(struct.pack("<HH", key, len(containers[key]) - 1) for key in keys)
    bodies: list[bytes] = []
    for key in keys:
        low = containers[key]
        if len(low) <= 4096:
            bodies.append(struct.pack(f"<{len(low)}H", *low))
        else:
            words = [0] * 1024
            for bit in low:
                words[bit >> 6] |= 1 << (bit & 63)
            bodies.append(struct.pack("<1024Q", *words))
    offset = len(header) + 4 * len(keys)
    offsets = b""
    for body in bodies:
        offsets += struct.pack("<I", offset)
        offset += len(body)
    return header + offsets + b"".join(bodies)


def _treemap(rows: list[int]) -> bytes:
    high: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        high[row >> 32].append(row & 0xFFFFFFFF)
    out = struct.pack("<Q", len(high))
    for key in sorted(high):
        out += struct.pack("<I", key) + _roaring32(high[key])
    return out


def write_deletion_vector(table: Path, rows: list[int]) -> dict[str, Any]:
    """Writes a DV file deleting `rows` (0-based row indexes) and returns its descriptor."""
    bitmap = struct.pack("<I", _DV_MAGIC) + _treemap(rows)
    dv_id = uuid.uuid4()
    content = (
        b"\x01"
        + struct.pack(">I", len(bitmap))
        + bitmap
        + struct.pack(">I", zlib.crc32(bitmap) & 0xFFFFFFFF)
    )
    (table / f"deletion_vector_{dv_id}.bin").write_bytes(content)
    return {
        "storageType": "u",
        "pathOrInlineDv": z85(dv_id.bytes),
        "offset": 1,
        "sizeInBytes": len(bitmap),
        "cardinality": len(set(rows)),
    }


def _last_version(table: Path) -> int:
    return max(
        int(path.stem) for path in (table / "_delta_log").glob("*.json") if path.stem.isdigit()
    )


def _active_adds(table: Path) -> dict[str, dict[str, Any]]:
    adds: dict[str, dict[str, Any]] = {}
    for version in range(_last_version(table) + 1):
        path = table / "_delta_log" / f"{version:020d}.json"
        for line in path.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                adds[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                adds.pop(action["remove"]["path"], None)
    return adds


def delete_rows(table: Path, predicate: Any) -> int:
    """Commits deletion vectors marking the rows for which `predicate(row)` holds
    (row: a dict of the file's columns, partition values included), on every file
    of `table` that has one. Returns the rows deleted (0: nothing committed).

    The table must have the deletionVectors feature; files that already have a
    vector are left alone."""
    actions: list[dict[str, Any]] = []
    now = int(time.time() * 1000)
    deleted = 0
    for path, add in sorted(_active_adds(table).items()):
        if add.get("deletionVector"):
            continue
        data = pq.read_table(table / path).to_pylist()
        partition = {key: value for key, value in (add.get("partitionValues") or {}).items()}
        rows = [index for index, row in enumerate(data) if predicate({**partition, **row})]
        if not rows:
            continue
        deleted += len(rows)
        remove = {
            "path": path,
            "deletionTimestamp": now,
            "dataChange": True,
            "extendedFileMetadata": True,
            "partitionValues": add.get("partitionValues", {}),
            "size": add["size"],
        }
        new_add = {**add, "dataChange": True, "deletionVector": write_deletion_vector(table, rows)}
        actions.extend([{"remove": remove}, {"add": new_add}])
    if not actions:
        return 0
    commit = [{"commitInfo": {"timestamp": now, "operation": "DELETE", "engineInfo": "tests"}}]
    lines = "\n".join(json.dumps(action) for action in commit + actions) + "\n"
    target = table / "_delta_log" / f"{_last_version(table) + 1:020d}.json"
    with open(target, "x") as out:  # a commit never overwrites one
        out.write(lines)
    return deleted
