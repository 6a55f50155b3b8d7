"""The SQL policy's configuration, handed to the Rust extension that enforces it.

Nothing here decides what a request may do: the Struct is encoded as it is and
the Rust `Policy` answers every question (see `rust/core/src/policy/`). With
roles, Python only picks which of the Rust policies a call runs under.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec
from datafusion import SQLOptions

from flightserver.artifacts.hashing import sha256_hex
from flightserver.artifacts.model import RulepackIdentity
from flightserver.artifacts.recorder import PlanIdentity
from flightserver.config import PolicyConfig, ServerConfig
from flightserver.engine.native import Policy, Rulepack

# The policy of calls when the server has no users: `ServerConfig.policy`.
DEFAULT_POLICY = "default"


@dataclass(frozen=True)
class GoverningPolicy:
    """One Rust policy and what enforces it: its statement check (`policy`),
    DataFusion's statement switches and the physical plan rules built from it."""

    name: str  # the role, or DEFAULT_POLICY
    policy: Policy
    sql_options: SQLOptions
    rulepack: Rulepack
    plan_identity: PlanIdentity  # the rulepack and policy an artifact records


def build_policy(config: ServerConfig, policy: PolicyConfig | None = None) -> Policy:
    """The Rust policy for `policy` (default: `config.policy`); the catalog and state
    folders are always allowed."""
    return Policy(
        msgspec.json.encode(policy or config.policy).decode(),
        default_roots=[str(Path(config.catalog_dir)), str(Path(config.state_dir))],
    )


def governing_policy(config: ServerConfig, name: str, policy: PolicyConfig) -> GoverningPolicy:
    rust_policy = build_policy(config, policy)
    rulepack = Rulepack(rust_policy, config.max_endpoints)
    identity = PlanIdentity(
        RulepackIdentity(
            name=Rulepack.name,
            rulepack_version=Rulepack.version,
            config_sha256=rulepack.config_hash,
        ),
        sha256_hex(rust_policy.config_json()),
    )
    return GoverningPolicy(name, rust_policy, sql_options(rust_policy), rulepack, identity)


def sql_options(policy: Policy) -> SQLOptions:
    """DataFusion's own statement switches, set as the policy says: a second line."""
    flags = policy.sql_options()
    return (
        SQLOptions()
        .with_allow_ddl(flags["allow_ddl"])
        .with_allow_dml(flags["allow_dml"])
        .with_allow_statements(flags["allow_statements"])
    )
