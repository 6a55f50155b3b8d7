"""Custom Flight actions (beyond Flight SQL's own), listed by ListActions.

Each module of this package offers `actions() -> list[CustomAction]`; the
server registers all of them. Payloads are msgspec Structs (see each module).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from datafusion import SessionContext
from pyarrow import flight

from flightserver.engine.policy import GoverningPolicy
from flightserver.engine.session import Engine
from flightserver.engine.statements import PreparedStatement


@dataclass(frozen=True)
class ActionContext:
    """What an action may use: the engine, the call, and the caller's session context."""

    engine: Engine
    call: flight.ServerCallContext
    ctx: SessionContext
    # Finds a prepared statement by its Flight SQL handle (NotFound if there is none).
    prepared_statement: Callable[[bytes], PreparedStatement]
    # The rulepack and policy governing `ctx`: the caller's role's, or the server's.
    governing: GoverningPolicy


@dataclass(frozen=True)
class CustomAction:
    name: str
    description: str
    run: Callable[[ActionContext, bytes], list[bytes]]


def all_actions() -> list[CustomAction]:
    """Every custom action the server offers."""
    # Imported here: the action modules import this one for ActionContext.
    from flightserver.actions import artifacts, catalog, health, maintenance, plans, rulepack

    return [
        *plans.actions(),
        *artifacts.actions(),
        *health.actions(),
        *catalog.actions(),
        *maintenance.actions(),
        *rulepack.actions(),
    ]
