"""Server configuration: one msgspec Struct, loaded from TOML, overridden by flags.

Precedence, lowest first: field defaults, the TOML file, environment variables,
command-line flags. The CLI derives its flags and variable names from this
Struct (see `config_options`), so an option exists in exactly one place.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import msgspec

from flightserver.ops.logs import LogFormat
from flightserver.writes.maintenance_config import MaintenancePolicy

ENV_PREFIX = "FLIGHTSERVER_"

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]


class PolicyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What a client may do: enforced in Rust (`flightserver._native.Policy`).

    Python only encodes this Struct to JSON for the Rust decoder, which mirrors
    these fields. The catalog and state directories are always allowed
    locations; `allowed_locations` opens more.
    """

    allow_query: Annotated[
        bool, msgspec.Meta(description="Allow queries: SELECT, VALUES, SHOW, DESCRIBE.")
    ] = True
    allow_explain: Annotated[
        bool,
        msgspec.Meta(
            description="Allow EXPLAIN [ANALYZE] (the explained statement is checked too)."
        ),
    ] = True
    allow_ddl: Annotated[
        bool,
        msgspec.Meta(
            description="Allow DDL: CREATE [EXTERNAL] TABLE, CREATE VIEW, CREATE SCHEMA, DROP."
        ),
    ] = True
    allow_dml: Annotated[
        bool,
        msgspec.Meta(
            description="Allow DML: INSERT, UPDATE, DELETE, MERGE, TRUNCATE, and bulk ingest "
            "(writes land only in allowed locations)."
        ),
    ] = True
    allow_copy: Annotated[
        bool, msgspec.Meta(description="Allow COPY ... TO (into allowed locations only).")
    ] = True
    allow_session: Annotated[
        bool,
        msgspec.Meta(
            description="Allow session statements: SET, RESET, transactions, PREPARE/EXECUTE."
        ),
    ] = False
    allowed_locations: Annotated[
        list[str],
        msgspec.Meta(
            description="Paths or URL prefixes where tables may be created and files written, "
            "besides the catalog and state directories (TOML only)."
        ),
    ] = msgspec.field(default_factory=list)
    allowed_schemes: Annotated[
        list[str],
        msgspec.Meta(description="URL schemes allowed anywhere, such as s3 (TOML only)."),
    ] = msgspec.field(default_factory=list)
    denied_functions: Annotated[
        list[str], msgspec.Meta(description="Functions no query may call (TOML only).")
    ] = msgspec.field(default_factory=list)
    max_scan_rows: Annotated[
        NonNegativeInt | None,
        msgspec.Meta(description="Refuse queries estimated to scan more rows (unset: no limit)."),
    ] = None
    max_scan_bytes: Annotated[
        NonNegativeInt | None,
        msgspec.Meta(description="Refuse queries estimated to scan more bytes (unset: no limit)."),
    ] = None
    max_result_rows: Annotated[
        NonNegativeInt | None,
        msgspec.Meta(description="Fail queries returning more rows (unset: no limit)."),
    ] = None


def builtin_roles() -> dict[str, PolicyConfig]:
    """The roles every server has; `[roles.NAME]` in TOML changes their fields or adds roles."""
    return {
        "reader": PolicyConfig(allow_ddl=False, allow_dml=False, allow_copy=False),
        "writer": PolicyConfig(allow_ddl=False, allow_dml=True, allow_copy=True),
        "admin": PolicyConfig(allow_ddl=True, allow_dml=True, allow_copy=True, allow_session=True),
    }


class LimitsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Resource governance: concurrency, waiting, time and memory per query."""

    max_concurrent_queries: Annotated[
        PositiveInt, msgspec.Meta(description="Queries planning or running at once.")
    ] = 16
    max_queued_queries: Annotated[
        NonNegativeInt,
        msgspec.Meta(description="Queries waiting for a slot before new ones are refused."),
    ] = 64
    admission_timeout_seconds: Annotated[
        float,
        msgspec.Meta(gt=0, description="How long a query waits for a slot before it is refused."),
    ] = 30.0
    query_timeout_seconds: Annotated[
        float | None,
        msgspec.Meta(description="Stop a query's result stream after this long (unset: no limit)."),
    ] = None
    max_prepared_statements_per_session: Annotated[
        PositiveInt,
        msgspec.Meta(
            description="Prepared statements one session (or, without a session cookie, one "
            "connection) may hold open."
        ),
    ] = 256
    max_sql_bytes: Annotated[
        PositiveInt, msgspec.Meta(description="Longest SQL text accepted.")
    ] = 1_000_000
    max_sql_operators: Annotated[
        PositiveInt,
        msgspec.Meta(
            description="Most operators in one statement (deeper expressions overflow the planner)."
        ),
    ] = 4_000
    memory_limit_bytes: Annotated[
        NonNegativeInt | None,
        msgspec.Meta(
            description="DataFusion memory pool shared by running queries; they spill beyond it."
        ),
    ] = None


class AuthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Who may connect. Without a users file, everyone connects anonymously."""

    users_file: Annotated[
        str | None,
        msgspec.Meta(
            description="TOML users file (name, argon2 password_hash, role); enables logins."
        ),
    ] = None
    allow_anonymous: Annotated[
        bool, msgspec.Meta(description="With a users file, also accept calls without credentials.")
    ] = False
    token_ttl_seconds: Annotated[
        float,
        msgspec.Meta(gt=0, description="How long a bearer token issued at login stays valid."),
    ] = 3600.0
    token_secret: Annotated[
        str | None,
        msgspec.Meta(
            description="Secret signing bearer tokens (unset: random, tokens die with the process)."
        ),
    ] = None
    max_failed_logins: Annotated[
        PositiveInt, msgspec.Meta(description="Failed logins per user before logins are refused.")
    ] = 5
    lockout_seconds: Annotated[
        float, msgspec.Meta(gt=0, description="Window over which failed logins are counted.")
    ] = 60.0
    default_role: Annotated[
        str, msgspec.Meta(description="Role of a users-file entry that names none.")
    ] = "reader"
    anonymous_role: Annotated[
        str, msgspec.Meta(description="Role of calls without credentials (allow_anonymous).")
    ] = "reader"


class TlsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """TLS for the Flight port; a client CA makes it mutual TLS."""

    cert_file: Annotated[
        str | None, msgspec.Meta(description="PEM certificate chain (enables TLS).")
    ] = None
    key_file: Annotated[
        str | None, msgspec.Meta(description="PEM private key of the certificate.")
    ] = None
    client_ca_file: Annotated[
        str | None,
        msgspec.Meta(description="PEM CA bundle; clients must present a certificate it signed."),
    ] = None


class TraceExporter(StrEnum):
    NONE = "none"  # tracing off: no spans are made
    CONSOLE = "console"  # one JSON line per span on standard output
    OTLP = "otlp"  # OTLP over gRPC to a collector


class TracingConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """OpenTelemetry: one span per Flight RPC, carrying the query id of logs and artifacts."""

    exporter: Annotated[
        TraceExporter,
        msgspec.Meta(
            description="Where spans go: none (tracing off), console (JSON lines on stdout), "
            "or otlp (a collector over OTLP/gRPC)."
        ),
    ] = TraceExporter.NONE
    otlp_endpoint: Annotated[
        str | None,
        msgspec.Meta(
            description="OTLP/gRPC collector address (unset: OTEL_EXPORTER_OTLP_ENDPOINT, "
            "or http://localhost:4317)."
        ),
    ] = None
    service_name: Annotated[
        str, msgspec.Meta(description="The service.name resource attribute of the spans.")
    ] = "flightserver"


class ArtifactsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Retention of the artifact store (`system.queries`)."""

    retention_days: Annotated[
        float, msgspec.Meta(gt=0, description="Artifacts older than this many days are deleted.")
    ] = 7.0
    max_rows: Annotated[
        PositiveInt, msgspec.Meta(description="At most this many artifacts are kept (newest).")
    ] = 100_000


class ResultCacheConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The version-exact result cache: a query's answer is reused only when it would be
    identical (same plan, parameters, table versions and files, policy, settings)."""

    enabled: Annotated[
        bool, msgspec.Meta(description="Reuse identical queries' results (sessions may opt out).")
    ] = True
    # 256 MiB: dashboards' and TPC-H's answers are kilobytes to a few megabytes, so
    # thousands fit, and the bound is small beside the engine's own working memory.
    max_bytes: Annotated[
        PositiveInt, msgspec.Meta(description="Arrow bytes all cached results may hold.")
    ] = 256 * 1024 * 1024
    # An eighth of the whole: one large result cannot evict most of the others.
    max_entry_bytes: Annotated[
        PositiveInt,
        msgspec.Meta(description="Larger results are streamed without being cached."),
    ] = 32 * 1024 * 1024


class DistributedConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Scale-out: the server coordinates `flightserver worker` processes
    (datafusion-distributed); queries whose largest scan is beyond the threshold run
    their heavy stages there. Workers come from `workers` or `workers_file`."""

    workers_file: Annotated[
        str | None,
        msgspec.Meta(
            description="File of worker HOST:PORT entries, one per line, re-read as workers "
            "come and go (instead of --workers)."
        ),
    ] = None
    secret_file: Annotated[
        str | None,
        msgspec.Meta(
            description="File holding the secret shared with the workers: every coordinator "
            "to worker request carries it and workers refuse requests without it."
        ),
    ] = None
    # datafusion-distributed's own default: a scan is split over tasks only beyond this
    # many bytes per target partition, so small queries stay on this server.
    bytes_per_partition: Annotated[
        PositiveInt,
        msgspec.Meta(
            description="Bytes of files per partition of a worker task; a query is distributed "
            "only when its largest scan exceeds this times target_partitions."
        ),
    ] = 16 * 1024 * 1024
    connect_timeout_seconds: Annotated[
        PositiveSeconds, msgspec.Meta(description="Connecting to a worker gives up after this.")
    ] = 5.0
    keepalive_timeout_seconds: Annotated[
        PositiveSeconds,
        msgspec.Meta(
            description="A worker that answers no ping for this long fails its queries "
            "(UNAVAILABLE)."
        ),
    ] = 10.0
    probe_interval_seconds: Annotated[
        PositiveSeconds,
        msgspec.Meta(description="How often workers are probed (queries plan around those down)."),
    ] = 2.0


class ServerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Everything `flightserver serve` is configured with."""

    host: Annotated[str, msgspec.Meta(description="Address to listen on.")] = "127.0.0.1"
    port: Annotated[
        int, msgspec.Meta(ge=0, le=65535, description="Port to listen on (0: pick a free one).")
    ] = 32010
    catalog_dir: Annotated[
        str,
        msgspec.Meta(description="Folder holding the table definitions (catalog/tables/*.toml)."),
    ] = "catalog"
    state_dir: Annotated[
        str,
        msgspec.Meta(
            description="Folder for the server's own data (ingested tables, artifacts); "
            "COPY may write here."
        ),
    ] = "state"
    catalog_refresh_seconds: Annotated[
        PositiveSeconds | None,
        msgspec.Meta(
            description="Re-read the catalog folder this often: added, changed and removed "
            "definitions and autoload folders take effect (unset: only on RefreshCatalog).",
        ),
    ] = None
    delta_repin_seconds: Annotated[
        PositiveSeconds | None,
        msgspec.Meta(
            description="Move Delta tables to their newest version this often, except those "
            "pinned to a chosen version (unset: only on RepinDelta).",
        ),
    ] = None
    target_partitions: Annotated[
        PositiveInt | None,
        msgspec.Meta(description="DataFusion target partitions (unset: one per core)."),
    ] = None
    statement_ttl_seconds: Annotated[
        float,
        msgspec.Meta(gt=0, description="How long a planned statement's ticket stays valid."),
    ] = 600.0
    shutdown_grace_seconds: Annotated[
        float,
        msgspec.Meta(gt=0, description="On SIGTERM/SIGINT, how long running queries get to stop."),
    ] = 10.0
    session_idle_seconds: Annotated[
        float, msgspec.Meta(gt=0, description="A session unused this long is forgotten.")
    ] = 3600.0
    log_level: Annotated[
        str, msgspec.Meta(description="Log level: DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO"
    log_format: Annotated[
        LogFormat, msgspec.Meta(description="Log line format: text, or json (one object a line).")
    ] = LogFormat.TEXT
    health_port: Annotated[
        Port | None,
        msgspec.Meta(
            description="Port of the gRPC health checking service (unset: off; 0: a free one)."
        ),
    ] = None
    http_port: Annotated[
        Port | None,
        msgspec.Meta(
            description="Port of the HTTP metrics, readiness and status page (unset: off; "
            "0: a free one)."
        ),
    ] = None
    query_history_size: Annotated[
        PositiveInt,
        msgspec.Meta(description="How many finished queries the status page remembers."),
    ] = 200
    max_endpoints: Annotated[
        PositiveInt,
        msgspec.Meta(
            description="Serve a result whose plan has 2 to this many output partitions as one "
            "Flight endpoint per partition, for clients to fetch in parallel (1: one stream)."
        ),
    ] = 1
    plan_cache_size: Annotated[
        NonNegativeInt,
        msgspec.Meta(
            description="How many prepared query texts are kept planned for reuse while the "
            "catalog is unchanged (0: plan every statement)."
        ),
    ] = 1000
    workers: Annotated[
        str | None,
        msgspec.Meta(
            description="Worker HOST:PORT list, comma-separated: queries over large scans run "
            "their heavy stages on these `flightserver worker` processes."
        ),
    ] = None
    distributed: DistributedConfig = msgspec.field(default_factory=DistributedConfig)
    artifacts: ArtifactsConfig = msgspec.field(default_factory=ArtifactsConfig)
    # Without a users file every call runs under `policy`; with one, under its role's policy.
    policy: PolicyConfig = msgspec.field(default_factory=PolicyConfig)
    roles: Annotated[
        dict[str, PolicyConfig],
        msgspec.Meta(
            description="Policy of each role (TOML only): reader, writer and admin are built in; "
            "[roles.NAME] changes a built-in role's fields or adds a role."
        ),
    ] = msgspec.field(default_factory=builtin_roles)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    result_cache: ResultCacheConfig = msgspec.field(default_factory=ResultCacheConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    tls: TlsConfig = msgspec.field(default_factory=TlsConfig)
    maintenance: MaintenancePolicy = msgspec.field(default_factory=MaintenancePolicy)
    tracing: TracingConfig = msgspec.field(default_factory=TracingConfig)


class ConfigError(ValueError):
    """The configuration file or an override is invalid."""


@dataclass(frozen=True)
class ConfigOption:
    """One leaf field of ServerConfig, as the CLI and environment see it."""

    path: tuple[str, ...]
    type: Any
    description: str

    @property
    def flag(self) -> str:
        return "--" + "-".join(self.path).replace("_", "-")

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + "_".join(self.path).upper()

    @property
    def param_name(self) -> str:
        return "__".join(self.path)


def config_options(struct: type[msgspec.Struct] = ServerConfig) -> Iterator[ConfigOption]:
    """Yields every leaf option of a config Struct, nested Structs flattened, lists left out."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    yield from _leaf_options(info, ())


def _leaf_options(
    info: msgspec.inspect.StructType, prefix: tuple[str, ...]
) -> Iterator[ConfigOption]:
    for field in info.fields:
        path = (*prefix, field.name)
        field_type = field.type
        if isinstance(field_type, msgspec.inspect.StructType):
            yield from _leaf_options(field_type, path)
            continue
        description = ""
        if isinstance(field_type, msgspec.inspect.Metadata):
            description = (field_type.extra_json_schema or {}).get("description", "")
            field_type = field_type.type
        if isinstance(field_type, msgspec.inspect.ListType | msgspec.inspect.DictType):
            continue  # lists and tables (roles, per-table overrides) are set in the TOML file only
        yield ConfigOption(path, field_type, description)


def load_config(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> ServerConfig:
    """Reads `path` (TOML) if given, applies `overrides` keyed by option param name."""
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    if isinstance(raw.get("roles"), dict):
        raw["roles"] = _with_builtin_roles(raw["roles"])
    for name, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, leaf = name.split("__")
        section = raw
        for parent in parents:
            section = section.setdefault(parent, {})
        section[leaf] = value
    try:
        return msgspec.convert(raw, ServerConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from exc


def _with_builtin_roles(configured: dict[str, Any]) -> dict[str, Any]:
    """`[roles.NAME]` tables laid over the built-in roles, field by field.

    A table naming a built-in role changes only the fields it sets, so
    `[roles.reader] max_scan_rows = 10` keeps the reader from writing.
    """
    merged: dict[str, Any] = {
        name: msgspec.to_builtins(policy) for name, policy in builtin_roles().items()
    }
    for name, fields in configured.items():
        base = merged.get(name, {})
        merged[name] = {**base, **fields} if isinstance(fields, dict) else fields
    return merged
