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

from flightserver.ops.logs import LogFormat

ENV_PREFIX = "FLIGHTSERVER_"

NonNegativeInt = Annotated[int, msgspec.Meta(ge=0)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]


class ScanBudgetConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Upper bounds on what one query may scan, enforced by a Rust plan rule."""

    max_rows: Annotated[
        NonNegativeInt | None,
        msgspec.Meta(description="Refuse queries estimated to scan more rows (unset: no limit)."),
    ] = None
    max_bytes: Annotated[
        NonNegativeInt | None,
        msgspec.Meta(description="Refuse queries estimated to scan more bytes (unset: no limit)."),
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
        msgspec.Meta(description="Folder for the server's own data: ingested tables, artifacts."),
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
    scan_budget: ScanBudgetConfig = msgspec.field(default_factory=ScanBudgetConfig)


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
    """Yields every leaf option of a config Struct, nested Structs flattened."""
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
