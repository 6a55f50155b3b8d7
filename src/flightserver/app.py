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
)
from flightserver.auth.tokens import TokenIssuer
from flightserver.auth.users import load_users
from flightserver.config import ServerConfig
from flightserver.engine.session import Engine
from flightserver.ops.rpc import MIDDLEWARE_KEY as OPS_MIDDLEWARE
from flightserver.ops.rpc import RpcMetricsFactory
from flightserver.protocol.server import FlightSqlServer


def build_server(config: ServerConfig, engine: Engine) -> FlightSqlServer:
    tls = config.tls
    scheme = "grpc+tls" if tls.cert_file else "grpc"
    options: dict[str, Any] = {}
    # Per-RPC metrics and log lines (ops).
    middleware: dict[str, Any] = {OPS_MIDDLEWARE: RpcMetricsFactory()}
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
        options["auth_handler"] = PassThroughAuthHandler()
        middleware[AUTH_MIDDLEWARE] = AuthMiddlewareFactory(
            load_users(Path(auth.users_file)),
            TokenIssuer(auth.token_ttl_seconds, auth.token_secret),
            LoginThrottle(auth.max_failed_logins, auth.lockout_seconds),
            allow_anonymous=auth.allow_anonymous,
        )
    return FlightSqlServer(f"{scheme}://{config.host}:{config.port}", engine, **options)
