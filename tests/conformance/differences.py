"""The documented differences: records that pass in process and fail through the
server for a reason a server legitimately has. Each is argued in
docs/conformance.md; anything else failing only through the server is a bug."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.conformance.runner import Verdict


@dataclass(frozen=True)
class Documented:
    reason: str  # the heading of its line in docs/conformance.md
    files: re.Pattern[str]  # suite files it may apply to
    sql: re.Pattern[str] | None = None  # the statement it applies to
    failure: re.Pattern[str] | None = None  # how it fails through the server


DOCUMENTED: tuple[Documented, ...] = ()


def documented_difference(file: str, verdict: Verdict) -> str | None:
    """The documented reason `verdict` (a server-only failure) is expected, if any."""
    for entry in DOCUMENTED:
        if not entry.files.search(file):
            continue
        if entry.sql is not None and not entry.sql.search(verdict.record.sql):
            continue
        if entry.failure is not None and not entry.failure.search(verdict.failure or ""):
            continue
        return entry.reason
    return None
