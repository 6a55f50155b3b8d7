"""A query's physical plan, made once, and what the rulepack recorded about it.

The rulepack's last rules write a manifest per physical plan (its scans, with
Delta versions and exact files, and how many Flight endpoints serve it); this
takes it, on the thread that planned, for the query's artifact.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pyarrow as pa
from datafusion import DataFrame, SessionContext
from datafusion.plan import ExecutionPlan

from flightserver.artifacts.model import PlanManifest
from flightserver.engine.native import DistributedPlan, take_manifest
from flightserver.engine.partitions import (
    BatchStream,
    MergedPartitions,
    NativeStream,
    PartitionStream,
)


@dataclass(frozen=True)
class PhysicalQuery:
    """A query planned down to its physical plan."""

    ctx: SessionContext
    df: DataFrame
    plan: ExecutionPlan | None  # None when the distributed coordinator planned it
    manifest: PlanManifest | None  # None only for plans no rulepack shaped
    # The coordinator's plan of a distributed query (its stages run on workers), and
    # the types its client reads.
    distributed: DistributedPlan | None = None
    client_schema: pa.Schema | None = None

    @property
    def endpoints(self) -> int:
        if self.distributed is not None:
            return self.distributed.endpoints
        return self.manifest.endpoints if self.manifest is not None else 1

    def execute(self, partition: int | None) -> BatchStream:
        """The stream of one endpoint's partition, or (None) of the whole result,
        from this plan (never planned again)."""
        if self.distributed is not None:
            source = self.distributed if partition is None else self.distributed.endpoint(partition)
            return NativeStream(source, self.client_schema)
        assert self.plan is not None
        if partition is not None:
            return PartitionStream(self.ctx.execute(self.plan, partition))
        if self.plan.partition_count == 1:
            return PartitionStream(self.ctx.execute(self.plan, 0))
        return MergedPartitions(self.ctx, self.plan)


def plan_physical(ctx: SessionContext, df: DataFrame) -> PhysicalQuery:
    """Plans `df` (the physical optimizer rules run here, refusals raise)."""
    plan = df.execution_plan()  # the rules run on this thread, which holds the manifest
    manifest_json = take_manifest()
    manifest = (
        msgspec.json.decode(manifest_json, type=PlanManifest) if manifest_json is not None else None
    )
    return PhysicalQuery(ctx, df, plan, manifest)
