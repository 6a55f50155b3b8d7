"""The whole conformance run: `python -m tests.conformance [--update-docs] [FILE ...]`.

Prints per file and in total the records passed in process and through the
server, and every server-only failure; with --update-docs, rewrites the summary
table in docs/conformance.md. Exits 1 when a server-only failure is undocumented.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from tests.conformance.report import summary_table, update_docs
from tests.conformance.runner import Verdict
from tests.conformance.slt import Record
from tests.conformance.suite import suite_files
from tests.conformance.suite_run import FileResult, Suite

DOCS = Path(__file__).resolve().parents[2] / "docs" / "conformance.md"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.conformance")
    parser.add_argument("files", nargs="*", help="files under test_files/ (default: all)")
    parser.add_argument("--update-docs", action="store_true", help=f"rewrite {DOCS.name}'s table")
    parser.add_argument("--json", type=Path, help="write every verdict here")
    parser.add_argument(
        "--from-json", type=Path, nargs="+", help="report earlier runs' verdicts (no run)"
    )
    options = parser.parse_args()
    if options.from_json:
        # A later file's results replace an earlier run's of the same file.
        by_name = {result.name: result for path in options.from_json for result in _load(path)}
        results = sorted(by_name.values(), key=lambda result: result.name)
        return _report(results, None, options)
    started = time.monotonic()
    results: list[FileResult] = []
    with Suite() as suite:
        files = [Path(name) for name in options.files] or suite_files(suite.in_process_dir)
        for index, relative in enumerate(files, start=1):
            result = suite.run(relative)
            results.append(result)
            print(
                f"[{index}/{len(files)}] {result.name}: {result.records} records, "
                f"{result.passed_in_process} in process, {result.passed_server} server, "
                f"{len(result.unexplained)} unexplained",
                flush=True,
            )
            for difference in result.server_only_failures:
                where = difference.record.record.where
                why = difference.reason or "UNEXPLAINED"
                print(f"    {where}: {why}: {difference.record.failure}", flush=True)
    if options.json:
        options.json.write_text(json.dumps([_verdicts(result) for result in results], indent=1))
    return _report(results, (time.monotonic() - started) / 60, options)


def _report(results: list[FileResult], minutes: float | None, options: argparse.Namespace) -> int:
    for result in results:
        for difference in result.unexplained:
            where = difference.record.record.where
            print(f"UNEXPLAINED {result.name} {where}: {difference.record.failure}")
    table = summary_table(results, minutes)
    print(table)
    if options.update_docs:
        update_docs(DOCS, table)
    return 1 if any(result.unexplained for result in results) else 0


def _load(path: Path) -> list[FileResult]:
    results: list[FileResult] = []
    for entry in json.loads(path.read_text()):
        ours: list[Verdict] = []
        theirs: list[Verdict] = []
        for record in entry["records"]:
            name, line = record["where"].rsplit(":", 1)
            parsed = Record(Path(name), int(line), record["sql"], is_query=False)
            ours.append(Verdict(parsed, record["in_process"]))
            theirs.append(Verdict(parsed, record["server"]))
        results.append(FileResult(entry["file"], ours, theirs))
    return results


def _verdicts(result: FileResult) -> dict[str, object]:
    return {
        "file": result.name,
        "records": [
            {
                "where": ours.record.where,
                "sql": ours.record.sql,
                "in_process": ours.failure,
                "server": theirs.failure,
            }
            for ours, theirs in zip(result.in_process, result.server, strict=True)
        ],
    }


if __name__ == "__main__":
    sys.exit(main())
