"""The documented differences: records that pass in process and fail through the
server for a reason a server legitimately has. Each is argued, one line, in
docs/conformance.md (the `reason` is that line's heading); any other record
failing only through the server is a bug."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tests.conformance.runner import Verdict


@dataclass(frozen=True)
class Documented:
    reason: str
    sql: re.Pattern[str] | None = None  # the statement it applies to
    failure: re.Pattern[str] | None = None  # how it fails through the server

    def applies(self, verdict: Verdict) -> bool:
        if self.sql is not None and not self.sql.search(verdict.record.sql):
            return False
        return self.failure is None or self.failure.search(verdict.failure or "") is not None


PROTECTED_SETTING = "protected setting"
DELTA_TABLES = "CREATE TABLE makes a Delta table"
UPDATE_COUNTS = "update counts"
EXPLAIN = "EXPLAIN shows the server's plan"
DICTIONARIES = "dictionaries are sent decoded"
CONSEQUENCE = "consequence of an earlier difference"
ZERO_SIZE_LISTS = "the ADBC driver cannot read zero-size fixed lists"

_FLAGS = re.IGNORECASE | re.DOTALL
DOCUMENTED: tuple[Documented, ...] = (
    Documented(PROTECTED_SETTING, failure=re.compile(r"flightserver\.policy\.setting")),
    Documented(DELTA_TABLES, failure=re.compile(r"for Delta Lake|Delta|deltalake", _FLAGS)),
    Documented(
        DELTA_TABLES,
        sql=re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\b(?!.*\bLOCATION\b)", _FLAGS),
    ),
    Documented(
        UPDATE_COUNTS,
        sql=re.compile(
            r"^(?:\s*--[^\n]*\n)*\s*(INSERT|COPY|CREATE|UPDATE|DELETE|TRUNCATE)\b", _FLAGS
        ),
        failure=re.compile(r"^column types '', expected"),
    ),
    Documented(EXPLAIN, sql=re.compile(r"^\s*EXPLAIN\b", _FLAGS)),
    Documented(
        ZERO_SIZE_LISTS,
        sql=re.compile(r"FixedSizeList\(\s*0\s*,", _FLAGS),
        failure=re.compile(r"arrow: invalid size"),
    ),
    Documented(
        DICTIONARIES,
        sql=re.compile(r"Dictionary\(", _FLAGS),
        failure=re.compile(r"^column types|^rows differ"),
    ),
)

# A statement whose server-only failure leaves later records without its effect.
_CREATED = re.compile(
    r"^\s*(?:CREATE|INSERT\s+INTO|INSERT\s+OVERWRITE|REPLACE)\s+(?:OR\s+REPLACE\s+)?"
    r"(?:EXTERNAL\s+|TEMPORARY\s+|UNBOUNDED\s+)*(?:TABLE\s+|VIEW\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>[\w.\"]+)",
    _FLAGS,
)
_SETTING = re.compile(r"^\s*SET\b", _FLAGS)
# CREATE TABLE without EXTERNAL or LOCATION: the server writes it as a Delta table.
_MANAGED = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\b(?!.*\bLOCATION\b)", _FLAGS)
# COPY's source and target: a Delta table's rows written to files carry Delta's types.
_COPY = re.compile(r"^\s*COPY\s+(?P<source>.+?)\s+TO\s+'(?P<path>[^']+)'", _FLAGS)
_LOCATION = re.compile(r"\bLOCATION\s+'(?P<path>[^']+)'", _FLAGS)


def classify(server: list[Verdict], server_only: list[bool]) -> list[str | None]:
    """The documented reason of each server-only failure of one file, in file order
    (None: unexplained; entries for other records are None too).

    A failure that follows a documented one is its consequence when it uses what
    that statement would have made (or follows a refused SET); one that reads a
    table `CREATE TABLE` made (a Delta table in the server) differs as Delta does,
    and so does one that reads an external table over files a passing COPY wrote
    from such a table (Delta's types went into those files).
    """
    reasons: list[str | None] = []
    missing: set[str] = set()  # what documented failures did not make
    delta: set[str] = set()  # tables the server made as Delta tables, or read from their copies
    delta_paths: set[str] = set()  # where passing COPYs wrote a Delta table's rows
    setting_refused = False
    for verdict, only in zip(server, server_only, strict=True):
        sql = verdict.record.sql
        made = _CREATED.match(sql)
        if made and _MANAGED.match(sql) and verdict.passed:
            delta.add(_bare(made.group("name")))
        copied = _COPY.match(sql)
        if copied and verdict.passed and _uses(copied.group("source"), delta):
            delta_paths.add(copied.group("path").rstrip("/"))
        location = _LOCATION.search(sql)
        if made and location and verdict.passed and _within(location.group("path"), delta_paths):
            delta.add(_bare(made.group("name")))
        if not only:
            reasons.append(None)
            continue
        reason = next((entry.reason for entry in DOCUMENTED if entry.applies(verdict)), None)
        if reason is None and (setting_refused or _uses(sql, missing)):
            reason = CONSEQUENCE
        if reason is None and _uses(sql, delta):
            reason = DELTA_TABLES
        if reason is not None:
            if made:
                missing.add(_bare(made.group("name")))
            setting_refused = setting_refused or bool(_SETTING.match(sql))
        reasons.append(reason)
    return reasons


def _bare(name: str) -> str:
    return name.replace('"', "").split(".")[-1].lower()


def _uses(sql: str, names: set[str]) -> bool:
    words = {word.lower() for word in re.findall(r"\w+", sql)}
    return bool(words & names)


def _within(path: str, written: set[str]) -> bool:
    """`path` is one of `written`, or a file inside one (a partitioned COPY writes a folder)."""
    path = path.rstrip("/")
    return any(path == folder or path.startswith(folder + "/") for folder in written)
