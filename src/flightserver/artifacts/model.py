"""Artifacts and custom action payloads: msgspec Structs, each with a version field.

These Structs are the one definition of every payload: JSON encoding, decoding
with validation, and the JSON Schemas in `schemas/` all come from them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec

Sha256 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$", description="SHA-256, hex.")]
Version1 = Annotated[
    Literal[1], msgspec.Meta(description="Payload version; the server reads version 1.")
]


class Payload(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Base of every artifact and action payload."""


# -- artifacts ----------------------------------------------------------------


class ArtifactType(StrEnum):
    QUERY = "query"  # one executed statement (query, update or DDL)
    PLAN_BUNDLE = "plan_bundle"  # a query's full plan bundle (GetPlanBundle)


class StatementStatus(StrEnum):
    OK = "ok"
    ERROR = "error"
    CANCELLED = "cancelled"
    ABANDONED = "abandoned"  # the client stopped reading before the end


class WriteOutcome(Payload, frozen=True, kw_only=True):
    """What a write statement or ingest wrote."""

    version: Version1 = 1
    target: Annotated[
        str,
        msgspec.Meta(description="The table written (catalog.schema.table), or COPY's location."),
    ]
    format: Annotated[str, msgspec.Meta(description="delta, or the files' format for others.")]
    table_version: Annotated[
        int | None, msgspec.Meta(description="The Delta version committed; null for other formats.")
    ] = None
    files_added: int
    files: Annotated[
        list[str], msgspec.Meta(description="Files written (non-Delta writes; Delta: empty).")
    ] = msgspec.field(default_factory=list)
    rows: int
    bytes: Annotated[
        int, msgspec.Meta(description="Bytes of the files written (Delta: of the Arrow rows).")
    ]
    operation: Annotated[
        str,
        msgspec.Meta(description="write (append, overwrite, create), delete, update or merge."),
    ] = "write"
    files_removed: Annotated[
        int, msgspec.Meta(description="Delta: data files the commit removed (rewritten).")
    ] = 0
    rows_deleted: int = 0
    rows_updated: int = 0
    rows_inserted: Annotated[
        int, msgspec.Meta(description="MERGE's inserted rows (INSERT's are in `rows`).")
    ] = 0
    deletion_vectors: Annotated[
        bool, msgspec.Meta(description="Delta: whether the commit wrote deletion vectors.")
    ] = False


class DeltaScan(Payload, frozen=True, kw_only=True):
    """What one scan of a Delta table read: its snapshot version and exact files."""

    version: Version1 = 1
    table_root: str
    table_version: int
    files: Annotated[list[str], msgspec.Meta(description="Data files as the Delta log names them.")]
    file_count: int
    files_sha256: Annotated[
        Sha256, msgspec.Meta(description="SHA-256 of the sorted file paths, one per line.")
    ]
    candidate_files: Annotated[
        int, msgspec.Meta(description="Files the scan could read before pruning (snapshot or pin).")
    ]
    pruned_files: Annotated[
        int, msgspec.Meta(description="Files partition pruning and statistics skipping left out.")
    ]
    bytes: int


class ScanRecord(Payload, frozen=True, kw_only=True):
    """One leaf scan of a physical plan, as the scan recorder rule saw it."""

    version: Version1 = 1
    node: str
    partitions: int
    estimated_rows: int | None = None
    estimated_bytes: int | None = None
    delta: DeltaScan | None = None


class PlanManifest(Payload, frozen=True, kw_only=True):
    """What the rulepack recorded about one physical plan: its scans and endpoints."""

    version: Version1 = 1
    id: int
    scans: list[ScanRecord]
    output_partitions: int
    endpoints: Annotated[
        int, msgspec.Meta(description="Flight endpoints serving the result (one per partition).")
    ]


class CacheStatus(StrEnum):
    HIT = "hit"  # the answer came from the result cache: nothing was planned or run
    MISS = "miss"  # looked up, not found: the query ran and its result was stored
    BYPASS = "bypass"  # not cacheable, or not stored (the reason says why)


class ResultCacheOutcome(Payload, frozen=True, kw_only=True):
    """What the result cache did for one query."""

    version: Version1 = 1
    status: CacheStatus
    reason: Annotated[
        str | None,
        msgspec.Meta(
            description="Why the cache was bypassed (for example `nondeterministic: random`, "
            "`result over max_entry_bytes`, `disabled for the session`)."
        ),
    ] = None
    key_sha256: Annotated[
        Sha256 | None, msgspec.Meta(description="The entry's key (hits and misses).")
    ] = None


class DistributedStage(Payload, frozen=True, kw_only=True):
    """One stage of a distributed query, and the workers its tasks ran on."""

    version: Version1 = 1
    head: Annotated[str, msgspec.Meta(description="The stage's top operator.")]
    workers: Annotated[list[str], msgspec.Meta(description="Worker URL of each task.")]


class DistributedRun(Payload, frozen=True, kw_only=True):
    """How a query ran distributed: its plan with stages, and where each stage went."""

    version: Version1 = 1
    plan: Annotated[str, msgspec.Meta(description="The plan, stages and tasks drawn.")]
    stages: list[DistributedStage]
    workers: Annotated[list[str], msgspec.Meta(description="Every worker the query used.")]


class QueryArtifact(Payload, frozen=True, kw_only=True):
    """What one executed statement left behind: recorded for every query and write."""

    version: Version1 = 1
    artifact_id: str
    recorded_at: datetime
    kind: Annotated[str, msgspec.Meta(description="query, update, ddl or ingest.")]
    status: StatementStatus
    sql: str | None = None
    target_table: Annotated[
        str | None, msgspec.Meta(description="The table an ingest wrote to.")
    ] = None
    substrait_sha256: Sha256 | None = None
    plan_sha256: Annotated[
        Sha256 | None,
        msgspec.Meta(description="Identity of the logical plan (see PlanBundle.plan_sha256)."),
    ] = None
    planning_ms: float
    execution_ms: float
    rows_out: int
    bytes_out: int
    error: str | None = None
    write: Annotated[
        WriteOutcome | None, msgspec.Meta(description="For writes: what was written.")
    ] = None
    scans: Annotated[
        list[ScanRecord],
        msgspec.Meta(description="Every scan the query ran; Delta scans with version and files."),
    ] = []
    endpoints: int = 1
    rulepack: RulepackIdentity | None = None
    policy_sha256: Sha256 | None = None
    result_cache: Annotated[
        ResultCacheOutcome | None,
        msgspec.Meta(description="Queries: whether the answer came from the result cache."),
    ] = None
    distributed: Annotated[
        DistributedRun | None,
        msgspec.Meta(description="Queries run distributed: their stages and workers."),
    ] = None


class DeltaPin(Payload, frozen=True, kw_only=True):
    """The exact Delta version and files a plan read (from the scan recorder rule)."""

    version: Version1 = 1
    table: str
    location: str
    table_version: int
    files: Annotated[list[str], msgspec.Meta(description="Data files as the Delta log names them.")]
    file_count: int
    file_set_sha256: Annotated[
        Sha256, msgspec.Meta(description="SHA-256 of the sorted file paths, one per line.")
    ]


class ExternalTable(Payload, frozen=True, kw_only=True):
    """A non-Delta table a plan read, with the DDL that registered it."""

    version: Version1 = 1
    table: str
    ddl: str


class RulepackIdentity(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    name: str
    rulepack_version: int
    config_sha256: Annotated[
        Sha256 | None,
        msgspec.Meta(description="SHA-256 of the rulepack's configuration."),
    ] = None


class RulepackRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1


class RulepackResponse(Payload, frozen=True, kw_only=True):
    """The rules and policy governing the caller's statements (its role's, if any)."""

    version: Version1 = 1
    rulepack: RulepackIdentity
    rules: Annotated[list[str], msgspec.Meta(description="The physical rules, in order.")]
    config: Annotated[dict[str, Any], msgspec.Meta(description="The rules' configuration.")]
    policy: Annotated[str, msgspec.Meta(description="The role's policy name, or `default`.")]
    policy_sha256: Sha256


class SubstraitRoundTrip(Payload, frozen=True, kw_only=True):
    """The plan's Substrait bytes read back into a plan, written again, and run."""

    version: Version1 = 1
    identical: Annotated[
        bool, msgspec.Meta(description="Written again, the plan gives the same bytes.")
    ]
    stable: Annotated[
        bool, msgspec.Meta(description="A second round trip gives the bytes of the first.")
    ]
    same_result: Annotated[
        bool | None,
        msgspec.Meta(description="The plan read back gives the query's result (null: not run)."),
    ] = None
    detail: str


class PlanBundle(Payload, frozen=True, kw_only=True):
    """Everything needed to explain, compare and replay one query."""

    version: Version1 = 1
    bundle_id: str
    created_at: datetime
    sql: str | None = None
    default_catalog: Annotated[
        str, msgspec.Meta(description="Where the query's unqualified table names resolve.")
    ]
    default_schema: str
    normalized_sql: Annotated[
        str | None,
        msgspec.Meta(description="The logical plan unparsed to SQL (null when not unparsable)."),
    ] = None
    logical_plan: str
    optimized_plan: str
    physical_plan: str
    plan_sha256: Annotated[
        Sha256, msgspec.Meta(description="SHA-256 of the logical plan with its schemas (indent).")
    ]
    substrait: Annotated[bytes, msgspec.Meta(description="The Substrait Plan message, base64.")]
    substrait_sha256: Sha256
    substrait_round_trip: SubstraitRoundTrip
    rulepack: RulepackIdentity
    policy_sha256: Annotated[
        Sha256 | None,
        msgspec.Meta(description="Hash of the SQL policy in force; null: no policy exists yet."),
    ] = None
    information_schema_sha256: Annotated[
        Sha256, msgspec.Meta(description="SHA-256 of information_schema.columns, ordered.")
    ]
    delta_pins: list[DeltaPin]
    external_tables: list[ExternalTable]
    planning_ms: float
    execution_ms: float
    rows_out: int
    bytes_out: int
    result_sha256: Annotated[
        Sha256, msgspec.Meta(description="SHA-256 of the result sorted on all its columns.")
    ]


# -- action requests and responses ------------------------------------------------


class QueryRequest(Payload, frozen=True, kw_only=True):
    """Names a query: SQL text, or a prepared statement's handle (base64)."""

    version: Version1 = 1
    sql: str | None = None
    prepared_statement_handle: bytes | None = None


class SubstraitPlanResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    plan: Annotated[bytes, msgspec.Meta(description="The Substrait Plan message, base64.")]
    plan_sha256: Sha256
    substrait_version: str


class ExplainResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    logical_plan: str
    optimized_plan: str
    physical_plan: str


class PlanBundleResponse(Payload, frozen=True, kw_only=True):
    """The bundle, as stored: fetch it again with FetchArtifact."""

    version: Version1 = 1
    artifact_id: str
    bundle: PlanBundle


class ListArtifactsRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    artifact_type: ArtifactType | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 100


class ArtifactSummary(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    artifact_id: str
    artifact_type: ArtifactType
    recorded_at: datetime
    kind: str
    status: StatementStatus
    sql: str | None = None
    plan_sha256: Sha256 | None = None


class ListArtifactsResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    artifacts: list[ArtifactSummary]


class FetchArtifactRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    artifact_id: Annotated[str, msgspec.Meta(min_length=1)]


class FetchArtifactResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    artifact_type: ArtifactType
    query: QueryArtifact | None = None
    plan_bundle: PlanBundle | None = None


class JsonSchemasRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1


class JsonSchemasResponse(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    schemas: dict[str, dict[str, Any]]


class ReplayRequest(Payload, frozen=True, kw_only=True):
    version: Version1 = 1
    artifact_id: Annotated[str, msgspec.Meta(min_length=1)]


class ReplayResponse(Payload, frozen=True, kw_only=True):
    """A stored plan bundle's Substrait plan re-run against its pinned Delta versions."""

    version: Version1 = 1
    artifact_id: str
    identical: bool
    rows_out: int
    result_sha256: Sha256
    expected_result_sha256: Sha256


# -- maintenance actions -----------------------------------------------------------


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
    v2_checkpoints: Annotated[
        bool,
        msgspec.Meta(description="The v2Checkpoint feature is on and delta.checkpointPolicy=v2."),
    ] = False
    deletion_vector_files: Annotated[
        int, msgspec.Meta(description="Data files that carry a deletion vector.")
    ] = 0
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
