"""The files a non-Delta write (COPY, INSERT into a listing table) leaves: the
target location is listed before and after the write."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse


@dataclass(frozen=True)
class FileState:
    size: int
    modified_ns: int


Listing = dict[str, FileState]


def local_path(location: str) -> Path | None:
    """`location` as a local path (relative ones against the working folder, as
    DataFusion reads them); None for remote URLs."""
    if "://" in location:
        parsed = urlparse(location)
        return Path(parsed.path) if parsed.scheme == "file" else None
    return Path(location).absolute()


def list_files(path: Path | None) -> Listing:
    if path is None:
        return {}
    if path.is_file():
        stat = path.stat()
        return {str(path): FileState(stat.st_size, stat.st_mtime_ns)}
    found: Listing = {}
    for folder, _, names in os.walk(path):
        for name in names:
            file = Path(folder) / name
            stat = file.stat()
            found[str(file)] = FileState(stat.st_size, stat.st_mtime_ns)
    return found


def written_files(before: Listing, after: Listing) -> Listing:
    """Files new or changed since `before`."""
    return {name: state for name, state in after.items() if before.get(name) != state}
