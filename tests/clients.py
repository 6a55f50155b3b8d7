"""Small client helpers the test modules share."""

from __future__ import annotations

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa


def query(conn: flightsql.Connection, sql: str) -> pa.Table:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetch_arrow_table()
