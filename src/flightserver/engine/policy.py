"""The SQL policy's configuration, handed to the Rust extension that enforces it.

Nothing here decides what a request may do: the Struct is encoded as it is and
the Rust `Policy` answers every question (see `rust/core/src/policy/`).
"""

from __future__ import annotations

from pathlib import Path

import msgspec
from datafusion import SQLOptions

from flightserver.config import ServerConfig
from flightserver.engine.native import Policy


def build_policy(config: ServerConfig) -> Policy:
    """The Rust policy for `config`; the catalog and state folders are always allowed."""
    return Policy(
        msgspec.json.encode(config.policy).decode(),
        default_roots=[str(Path(config.catalog_dir)), str(Path(config.state_dir))],
    )


def sql_options(policy: Policy) -> SQLOptions:
    """DataFusion's own statement switches, set as the policy says: a second line."""
    flags = policy.sql_options()
    return (
        SQLOptions()
        .with_allow_ddl(flags["allow_ddl"])
        .with_allow_dml(flags["allow_dml"])
        .with_allow_statements(flags["allow_statements"])
    )
