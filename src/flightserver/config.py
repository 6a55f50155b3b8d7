"""Server configuration: one msgspec Struct, loaded from TOML, overridden by flags.

Precedence, lowest first: field defaults, the TOML file, environment variables,
command-line flags. The CLI derives its flags and variable names from this
Struct (see `config_options`), so an option exists in exactly one place.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import msgspec

ENV_PREFIX = "FLIGHTSERVER_"

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


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
        msgspec.Meta(description="Allow EXPLAIN [ANALYZE] (the explained statement is checked too)."),
    ] = True
    allow_ddl: Annotated[
        bool,
        msgspec.Meta(
            description="Allow DDL: CREATE [EXTERNAL] TABLE, CREATE VIEW, CREATE SCHEMA, DROP."
        ),
    ] = True
    allow_dml: Annotated[
        bool, msgspec.Meta(description="Allow DML: INSERT, UPDATE, DELETE, MERGE, TRUNCATE.")
    ] = False
    allow_copy: Annotated[bool, msgspec.Meta(description="Allow COPY ... TO.")] = False
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
        msgspec.Meta(description="Folder for the server's own files; COPY may write here."),
    ] = "state"
    target_partitions: Annotated[
        PositiveInt | None,
        msgspec.Meta(description="DataFusion target partitions (unset: one per core)."),
    ] = None
    statement_ttl_seconds: Annotated[
        float,
        msgspec.Meta(gt=0, description="How long a planned statement's ticket stays valid."),
    ] = 600.0
    log_level: Annotated[
        str, msgspec.Meta(description="Log level: DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO"
    policy: PolicyConfig = msgspec.field(default_factory=PolicyConfig)


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
        if isinstance(field_type, msgspec.inspect.ListType):
            continue  # lists are set in the TOML file only
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
