"""The schema a query's batches actually have, to announce to clients.

`DataFrame.schema()` is the schema of the plan before DataFusion's analyzer
(type coercion) runs. Some plans change type there: a UNION of `List(UInt8)`
and `List(Int8)` is announced as `List(UInt8)` but produces `List(Int16)`
batches. Announcing the unanalyzed schema makes the stream relabel (and so
cast) batches to a type that cannot hold their values.
"""

from __future__ import annotations

import pyarrow as pa
from datafusion import DataFrame, SessionContext


def result_schema(ctx: SessionContext, df: DataFrame) -> pa.Schema:
    """`df`'s schema after DataFusion's analyzer and optimizer: what executing it yields.

    The optimizer keeps a plan's schema, so this is also the physical plan's.
    """
    optimized = ctx.create_dataframe_from_logical_plan(df.optimized_logical_plan())
    return optimized.schema()
