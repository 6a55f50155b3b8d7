"""One rewrite of a table's files at a time, per table, in this server.

`deltalake` lets an overwrite commit over a concurrent optimize (seen with
1.6.6: the overwrite removes the files it read, not the compacted file the
optimize added), leaving a table that mixes old and new rows in its log. The
server's overwrites and its maintenance runs therefore take this lock for
the table; appends need not (they remove nothing).
"""

from __future__ import annotations

import threading
from pathlib import Path

_LOCKS: dict[str, threading.Lock] = {}
_GUARD = threading.Lock()


def rewrite_lock(location: str) -> threading.Lock:
    """The lock of the table at `location` (a path or file URL)."""
    key = str(Path(location.removeprefix("file://")).resolve())
    with _GUARD:
        return _LOCKS.setdefault(key, threading.Lock())
