"""Log setup: plain text for people, JSON lines for log pipelines.

Every record carries `query_id` (empty outside a query), so one grep ties a
query's log lines to its history entry and its metric exemplars.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from enum import StrEnum

from pythonjsonlogger.json import JsonFormatter

QUERY_ID: ContextVar[str] = ContextVar("flightserver_query_id", default="")


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class QueryIdFilter(logging.Filter):
    """Adds the current query id to a record that does not name one (and, for
    text lines, `query_tag`: the id as a suffix, or nothing)."""

    def __init__(self, tag: bool) -> None:
        super().__init__()
        self.tag = tag

    def filter(self, record: logging.LogRecord) -> bool:
        query_id = getattr(record, "query_id", "") or QUERY_ID.get()
        record.query_id = query_id
        if self.tag:
            record.query_tag = f" [query {query_id}]" if query_id else ""
        return True


def configure_logging(level: str, log_format: LogFormat) -> None:
    """Sends every log record to stderr in `log_format`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(QueryIdFilter(tag=log_format is LogFormat.TEXT))
    if log_format is LogFormat.JSON:
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}{query_id}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s%(query_tag)s")
        )
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
