"""Payloads of the maintenance actions (registered in the artifact schema registry)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from flightserver.artifacts.model import Payload, Version1


class TableAdoption(Payload, frozen=True, kw_only=True):
    """Where one Delta table stands against the maintenance policy."""

    version: Version1 = 1
    table: str
    location: str
    table_version: int
    min_reader_version: int
    min_writer_version: int
    reader_features: list[str]
    writer_features: list[str]
    deletion_vectors: Annotated[
        bool, msgspec.Meta(description="delta.enableDeletionVectors is true.")
    ]
    checkpoint_interval: Annotated[
        int | None, msgspec.Meta(description="delta.checkpointInterval (null: Delta's default).")
    ] = None
    last_checkpoint_version: int | None = None
    last_log_compaction: Annotated[
        str | None, msgspec.Meta(description="Versions the newest compacted log covers, a.b.")
    ] = None
    last_optimize: datetime | None = None
    last_vacuum: datetime | None = None
    file_count: int
    small_file_count: int
    policy_adopted: Annotated[
        bool, msgspec.Meta(description="Properties and features are as the policy asks.")
    ]
    last_error: Annotated[
        str | None, msgspec.Meta(description="Why the last maintenance run failed, if it did.")
    ] = None


class MaintenanceStatusRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    table: Annotated[str | None, msgspec.Meta(description="catalog.schema.table; null: all.")] = (
        None
    )


class MaintenanceStatusResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    tables: list[TableAdoption]


class RunMaintenanceRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    table: Annotated[str | None, msgspec.Meta(description="catalog.schema.table; null: all.")] = (
        None
    )


class TableMaintenanceRun(Payload, frozen=True, kw_only=True):
    """What one maintenance run did to one table."""

    version: Version1 = 1
    table: str
    properties_set: dict[str, str]
    features_added: list[str]
    files_compacted: int
    files_added: int
    log_compacted: str | None = None
    checkpoint_version: int | None = None
    files_vacuumed: int
    duration_ms: float
    adoption: TableAdoption


class RunMaintenanceResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    runs: list[TableMaintenanceRun]
