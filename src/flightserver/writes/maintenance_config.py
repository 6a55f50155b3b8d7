"""The Delta maintenance policy: one Struct in ServerConfig, global with
per-table overrides (`[maintenance.tables."catalog.schema.table"]`)."""

from __future__ import annotations

from typing import Annotated

import msgspec

PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonNegativeFloat = Annotated[float, msgspec.Meta(ge=0)]
Fraction = Annotated[float, msgspec.Meta(gt=0, le=1)]


class MaintenanceOverride(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One table's departures from the global policy (unset: the global value)."""

    deletion_vectors: bool | None = None
    v2_checkpoints: bool | None = None
    checkpoint_interval: PositiveInt | None = None
    log_compaction: bool | None = None
    optimize: bool | None = None
    optimize_min_small_files: PositiveInt | None = None
    purge_deleted_fraction: Fraction | None = None
    target_file_bytes: PositiveInt | None = None
    vacuum_retention_hours: NonNegativeFloat | None = None
    after_commit: bool | None = None


class MaintenancePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What the server keeps true of the Delta tables it writes."""

    deletion_vectors: Annotated[
        bool, msgspec.Meta(description="Enable deletion vectors (raises the table protocol).")
    ] = False
    v2_checkpoints: Annotated[
        bool,
        msgspec.Meta(
            description="Enable v2 checkpoints (v2Checkpoint feature, delta.checkpointPolicy=v2; "
            "raises the table protocol)."
        ),
    ] = False
    checkpoint_interval: Annotated[
        PositiveInt, msgspec.Meta(description="Commits between Delta log checkpoints.")
    ] = 10
    log_compaction: Annotated[
        bool,
        msgspec.Meta(description="Compact the log commits written since the last checkpoint."),
    ] = True
    optimize: Annotated[
        bool, msgspec.Meta(description="Compact small data files (optimize) when there are many.")
    ] = True
    optimize_min_small_files: Annotated[
        PositiveInt, msgspec.Meta(description="Small files a table needs before it is compacted.")
    ] = 16
    purge_deleted_fraction: Annotated[
        Fraction,
        msgspec.Meta(
            description="Optimize rewrites the files whose deletion vector deletes at least "
            "this fraction of their rows (purging the vectors)."
        ),
    ] = 0.2
    target_file_bytes: Annotated[
        PositiveInt,
        msgspec.Meta(description="Files below this size are small; compaction aims at it."),
    ] = 128 * 1024 * 1024
    vacuum_retention_hours: Annotated[
        NonNegativeFloat | None,
        msgspec.Meta(description="Vacuum files unreferenced for this long (unset: never vacuum)."),
    ] = 168.0
    after_commit: Annotated[
        bool, msgspec.Meta(description="Apply the policy after every commit the server makes.")
    ] = True
    tables: Annotated[
        dict[str, MaintenanceOverride],
        msgspec.Meta(description="Per-table overrides by catalog.schema.table (TOML only)."),
    ] = msgspec.field(default_factory=dict)

    def for_table(self, name: str) -> MaintenancePolicy:
        """The policy in force for `name`: the global one with its override applied."""
        override = self.tables.get(name)
        if override is None:
            return self
        changes = {
            field: value
            for field in override.__struct_fields__
            if (value := getattr(override, field)) is not None
        }
        return msgspec.structs.replace(self, **changes)
