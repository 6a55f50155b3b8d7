"""The conformance summary: a Markdown table per file and in total."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conformance.suite_run import FileResult

START = "<!-- conformance-table:start -->"
END = "<!-- conformance-table:end -->"


def summary_table(results: list[FileResult], minutes: float | None) -> str:
    """The summary; `minutes`, the run's time, is None for a report of saved runs."""
    lines = [
        "| file | records | passed in process | passed through the server | difference "
        "| server-only failures (documented) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        only = result.server_only_failures
        documented = len(only) - len(result.unexplained)
        lines.append(
            f"| {result.name} | {result.records} | {result.passed_in_process} "
            f"| {result.passed_server} | {result.passed_server - result.passed_in_process} "
            f"| {len(only)} ({documented}) |"
        )
    records = sum(result.records for result in results)
    ours = sum(result.passed_in_process for result in results)
    theirs = sum(result.passed_server for result in results)
    only = sum(len(result.server_only_failures) for result in results)
    unexplained = sum(len(result.unexplained) for result in results)
    lines.append(
        f"| **total: {len(results)} files** | {records} | {ours} | {theirs} | {theirs - ours} "
        f"| {only} ({only - unexplained}) |"
    )
    lines.append("")
    if minutes is not None:  # a re-report's time says nothing of the runs it merges
        lines.append(f"Run time: {minutes:.1f} min.")
    return "\n".join(lines)


def update_docs(path: Path, table: str) -> None:
    text = path.read_text(encoding="utf-8")
    block = f"{START}\n{table}\n{END}"
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    path.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")
