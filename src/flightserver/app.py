"""Assembles the server from its configuration: engine, protocol, auth, TLS."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flightserver.auth.middleware import (
    MIDDLEWARE_KEY as AUTH_MIDDLEWARE,
)
from flightserver.auth.middleware import (
    AuthMiddlewareFactory,
    LoginThrottle,
    PassThroughAuthHandler,
    call_role,
)
from flightserver.auth.tokens import TokenIssuer
from flightserver.auth.users import User, load_users
from flightserver.config import ConfigError, ServerConfig
from flightserver.engine.session import Engine
from flightserver.ops.rpc import MIDDLEWARE_KEY as OPS_MIDDLEWARE
from flightserver.ops.rpc import RpcMetricsFactory
from flightserver.ops.tracing import configure_tracing
from flightserver.protocol.server import FlightSqlServer


def build_server(config: ServerConfig, engine: Engine) -> FlightSqlServer:
    tls = config.tls
    scheme = "grpc+tls" if tls.cert_file else "grpc"
    options: dict[str, Any] = {}
    # Per-RPC metrics, log lines and trace spans (ops).
    middleware: dict[str, Any] = {
        OPS_MIDDLEWARE: RpcMetricsFactory(configure_tracing(config.tracing))
    }
    options["middleware"] = middleware
    if tls.cert_file:
        if not tls.key_file:
            raise ValueError("tls.cert_file needs tls.key_file")
        options["tls_certificates"] = [
            (Path(tls.cert_file).read_bytes(), Path(tls.key_file).read_bytes())
        ]
        if tls.client_ca_file:
            options["verify_client"] = True
            options["root_certificates"] = Path(tls.client_ca_file).read_bytes()
    auth = config.auth
    if auth.users_file:
        users = load_users(Path(auth.users_file))
        check_roles(config, users)
        options["auth_handler"] = PassThroughAuthHandler()
        middleware[AUTH_MIDDLEWARE] = AuthMiddlewareFactory(
            users,
            TokenIssuer(auth.token_ttl_seconds, auth.token_secret),
            LoginThrottle(auth.max_failed_logins, auth.lockout_seconds),
            allow_anonymous=auth.allow_anonymous,
            default_role=auth.default_role,
            anonymous_role=auth.anonymous_role,
        )
        # With users, each call runs under its caller's role's policy.
        options["role_of"] = call_role
    return FlightSqlServer(f"{scheme}://{config.host}:{config.port}", engine, **options)


def check_roles(config: ServerConfig, users: dict[str, User]) -> None:
    """Refuses to start when a user, or anonymous access, names a role with no policy."""
    auth = config.auth
    named = {f"user {user.name!r}": user.role or auth.default_role for user in users.values()}
    named["auth.default_role"] = auth.default_role
    if auth.allow_anonymous:
        named["auth.anonymous_role"] = auth.anonymous_role
    for who, role in named.items():
        if role not in config.roles:
            raise ConfigError(
                f"{who} has role {role!r}, which is not configured (roles: {sorted(config.roles)})"
            )
