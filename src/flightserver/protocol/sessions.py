"""Flight SQL sessions: a cookie names the session; its options live here.

Clients that keep cookies (the JDBC driver does) get one session per
connection, forgotten after `session_idle_seconds` without a call. The cookie
is offered only when a call starts a session (SetSessionOptions), so a call
without a cookie costs the session layer nothing more than looking for one:
ADBC sends none and uses no sessions.
SetSessionOptions `catalog` / `schema` change the defaults that unqualified
table names resolve against. A session that changed nothing runs
on the shared DataFusion context of its caller's role (or of the server, without
users); one that did gets its own context sharing the same catalogs.

The caller's role (from the authenticated identity) picks the Rust policy its
statements run under; a session opened by one role is never run under another's.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from datafusion import SessionContext
from pyarrow import flight

from flightserver.engine.session import Scope
from flightserver.protocol.call_headers import COOKIE, needs_client_types, session_cookie
from flightserver.protocol.errors import InvalidRequest
from flightserver.protocol.generated import flight_session_pb2 as fs
from flightserver.protocol.handles import HandleRegistry

SUPPORTED_OPTIONS = ("catalog", "schema", "result_cache")
RESULT_CACHE_OPTION = "result_cache"
# A session's `result_cache` option: whether the result cache may answer its queries.
_SWITCH_VALUES = {"true": True, "on": True, "false": False, "off": False}

# A role (None: the server has no users), a catalog and a schema -> where calls run.
ScopeFactory = Callable[[str | None, str, str], Scope]
# The role of a call's authenticated caller; None when the server has no users.
RoleOf = Callable[[flight.ServerCallContext], str | None]


@dataclass
class Session:
    session_id: str
    catalog: str
    schema: str
    # Contexts made for this session's own catalog and schema, by role.
    scopes: dict[str | None, Scope] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)


class SessionRegistry:
    def __init__(
        self,
        shared: SessionContext,
        make_scope: ScopeFactory,
        role_of: RoleOf,
        *,
        default_catalog: str,
        default_schema: str,
        idle_seconds: float,
    ) -> None:
        self._shared = shared
        self._make_scope = make_scope
        self._role_of = role_of
        self._defaults = (default_catalog, default_schema)
        self._sessions: HandleRegistry[Session] = HandleRegistry("session", idle_seconds)

    def scope(self, call: flight.ServerCallContext) -> Scope:
        """Where this call runs: its session's catalog and schema, its caller's policy,
        and whether its results take the JDBC driver's types."""
        scope = self._scope(call)
        if needs_client_types(call) != scope.client_types:
            scope = replace(scope, client_types=needs_client_types(call))
        session = self._find(call)
        if session is not None and session.options.get(RESULT_CACHE_OPTION) == "false":
            scope = replace(scope, result_cache=False)
        return scope

    def _scope(self, call: flight.ServerCallContext) -> Scope:
        role = self._role_of(call)
        session = self._find(call)
        if session is None or (session.catalog, session.schema) == self._defaults:
            return self._make_scope(role, *self._defaults)
        scope = session.scopes.get(role)
        if scope is None:
            scope = session.scopes[role] = self._make_scope(role, session.catalog, session.schema)
        return scope

    def context(self, call: flight.ServerCallContext) -> SessionContext:
        """The DataFusion context this call's session runs in."""
        return self.scope(call).ctx

    def session_key(self, call: flight.ServerCallContext) -> str:
        """What names this call's session: its cookie, or without one its connection."""
        session_id = session_cookie(call)
        return session_id if session_id is not None else call.peer()

    def _find(self, call: flight.ServerCallContext) -> Session | None:
        session_id = session_cookie(call)
        return None if session_id is None else self._sessions.find(session_id.encode())

    def _find_or_start(self, call: flight.ServerCallContext) -> Session:
        session_id = session_cookie(call)
        if session_id is None:
            # A new session: the client keeps the cookie and names it on later calls.
            session_id = secrets.token_urlsafe(24)
            call.add_header("set-cookie", f"{COOKIE}={session_id}")
        return self._sessions.get_or_add(
            session_id.encode(), lambda: Session(session_id, *self._defaults)
        )

    def set_options(
        self, call: flight.ServerCallContext, request: fs.SetSessionOptionsRequest
    ) -> bytes:
        session = self._find_or_start(call)
        result = fs.SetSessionOptionsResult()
        catalog, schema = session.catalog, session.schema
        for name, value in request.session_options.items():
            error = _option_error(name, value)
            if error is None and name == RESULT_CACHE_OPTION:
                session.options[name] = str(_switch(value)).lower()
            elif error is None:
                if name == "catalog":
                    catalog = value.string_value
                else:
                    schema = value.string_value
                session.options[name] = value.string_value
            else:
                result.errors[name].value = error  # pyright: ignore[reportAttributeAccessIssue]
        if (catalog, schema) != (session.catalog, session.schema):
            if catalog not in self._shared.catalog_names():
                raise InvalidRequest(f"catalog {catalog!r} does not exist")
            session.catalog, session.schema = catalog, schema
            session.scopes.clear()
        return result.SerializeToString()

    def get_options(self, call: flight.ServerCallContext) -> bytes:
        session = self._find(call)
        catalog, schema = (session.catalog, session.schema) if session else self._defaults
        result = fs.GetSessionOptionsResult()
        result.session_options["catalog"].string_value = catalog
        result.session_options["schema"].string_value = schema
        enabled = session is None or session.options.get(RESULT_CACHE_OPTION) != "false"
        result.session_options[RESULT_CACHE_OPTION].bool_value = enabled
        return result.SerializeToString()

    def close(self, call: flight.ServerCallContext) -> bytes:
        session_id = session_cookie(call)
        if session_id is not None:
            self._sessions.discard(session_id.encode())
        return fs.CloseSessionResult(status=fs.CloseSessionResult.CLOSED).SerializeToString()

    def __len__(self) -> int:
        return len(self._sessions)


def _option_error(name: str, value: fs.SessionOptionValue) -> int | None:
    if name not in SUPPORTED_OPTIONS:
        return fs.SetSessionOptionsResult.INVALID_NAME
    if name == RESULT_CACHE_OPTION:
        return None if _switch(value) is not None else fs.SetSessionOptionsResult.INVALID_VALUE
    if value.WhichOneof("option_value") != "string_value":
        return fs.SetSessionOptionsResult.INVALID_VALUE
    return None


def _switch(value: fs.SessionOptionValue) -> bool | None:
    """An on/off option given as a boolean or as true/false/on/off; None otherwise."""
    kind = value.WhichOneof("option_value")
    if kind == "bool_value":
        return value.bool_value
    if kind == "string_value":
        return _SWITCH_VALUES.get(value.string_value.strip().lower())
    return None
