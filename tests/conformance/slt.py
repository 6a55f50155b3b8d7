"""The sqllogictest file format, as DataFusion's suite writes it.

Records: `statement ok|error|count N`, `query <types> [rowsort|valuesort|nosort]`
or `query error <regex>`, expected results after `----`, `include <glob>`,
`skipif`/`onlyif <label>` (applying to the next record), `control sortmode`,
`halt`. Anything else the format has (`hash-threshold`, `subtest`, `sleep`,
`connection`, `let`, `system`) is parsed and ignored, as DataFusion's suite
never depends on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DELIMITER = "----"
# The labels DataFusion's own runner answers to (its engine name and `add_label`).
LABELS = frozenset({"Datafusion", "DataFusion"})
SORT_MODES = frozenset({"nosort", "rowsort", "valuesort"})


@dataclass(frozen=True)
class ExpectedError:
    """`error <regex>` (searched in the message), a multiline exact message, or any."""

    pattern: str | None = None  # inline regex
    exact: str | None = None  # multiline message under `----`

    def matches(self, message: str) -> bool:
        if self.exact is not None:
            return self.exact.strip() == message.strip()
        if self.pattern is None:
            return True
        try:
            return re.search(self.pattern, message) is not None
        except re.error:  # a Rust regex Python cannot read: only the literal text counts
            return self.pattern in message


@dataclass(frozen=True)
class Record:
    """One statement or query of a file, where it is, and what it must give."""

    path: Path
    line: int
    sql: str
    is_query: bool
    error: ExpectedError | None = None  # set when an error is expected
    types: str = ""  # one letter a column (query records)
    sort_mode: str | None = None
    expected: tuple[str, ...] = ()  # result lines (query records)
    count: int | None = None  # `statement count N`

    @property
    def where(self) -> str:
        return f"{self.path.name}:{self.line}"


@dataclass
class _Lines:
    lines: list[str]
    position: int = 0

    def next(self) -> str | None:
        if self.position >= len(self.lines):
            return None
        line = self.lines[self.position]
        self.position += 1
        return line

    def peek(self) -> str | None:
        return self.lines[self.position] if self.position < len(self.lines) else None


@dataclass
class _State:
    skip: bool = False  # a condition excluded the next record
    sort_mode: str | None = None  # `control sortmode`
    records: list[Record] = field(default_factory=list)


def parse_file(path: Path) -> list[Record]:
    """Every record of `path` this engine runs, includes expanded, in file order."""
    state = _State()
    _parse_into(path, state)
    return state.records


def _parse_into(path: Path, state: _State) -> None:
    lines = _Lines(path.read_text(encoding="utf-8").splitlines())
    while (line := lines.next()) is not None:
        number = lines.position
        if line.startswith("#") or not line.strip():
            continue
        tokens = line.split()
        keyword = tokens[0]
        if keyword == "halt":
            return
        if keyword in {"skipif", "onlyif"} and len(tokens) == 2:
            labelled = tokens[1] in LABELS
            state.skip = state.skip or (labelled if keyword == "skipif" else not labelled)
            continue
        if keyword == "include" and len(tokens) == 2:
            for included in sorted(path.parent.glob(tokens[1])):
                _parse_into(included, state)
            continue
        if keyword == "control" and len(tokens) == 3 and tokens[1] == "sortmode":
            state.sort_mode = tokens[2]
            continue
        if keyword in {"statement", "query"}:
            record = _statement(path, number, tokens, lines, state)
            if not state.skip:
                state.records.append(record)
            state.skip = False
            continue
        if keyword in {"system"}:
            _sql_and_delimiter(lines)
            _multiline(lines)
            continue
        # hash-threshold, subtest, sleep, connection, let: no effect on DataFusion's suite.


def _statement(path: Path, number: int, tokens: list[str], lines: _Lines, state: _State) -> Record:
    is_query = tokens[0] == "query"
    rest = tokens[1:]
    sql, delimited = _sql_and_delimiter(lines)
    if rest and rest[0] == "error":
        pattern = " ".join(rest[1:]).strip()
        if delimited:
            error = ExpectedError(exact=_multiline(lines))
        else:
            error = ExpectedError(pattern=pattern or None)
        return Record(path, number, sql, is_query, error=error)
    if not is_query:
        count = int(rest[1]) if len(rest) >= 2 and rest[0] == "count" else None
        return Record(path, number, sql, False, count=count)
    types = rest[0] if rest else ""
    sort_mode = rest[1] if len(rest) > 1 and rest[1] in SORT_MODES else state.sort_mode
    expected: list[str] = []
    if delimited:
        while (line := lines.next()) is not None and line != "":
            expected.append(line)
    return Record(
        path, number, sql, True, types=types, sort_mode=sort_mode, expected=tuple(expected)
    )


def _sql_and_delimiter(lines: _Lines) -> tuple[str, bool]:
    sql: list[str] = []
    while (line := lines.next()) is not None and line != "":
        if line == DELIMITER:
            return "\n".join(sql), True
        sql.append(line)
    return "\n".join(sql), False


def _multiline(lines: _Lines) -> str:
    """An expected block ending at two empty lines (or the end of the file)."""
    text: list[str] = []
    while (line := lines.next()) is not None:
        if line == "" and (lines.peek() in (None, "")):
            lines.next()
            break
        text.append(line)
    return "\n".join(text).strip()


def test_files(root: Path) -> Iterator[Path]:
    """The suite's runnable files under `root` (`.slt`; `.slt.part` are only included)."""
    yield from sorted(path for path in root.rglob("*.slt") if path.is_file())
