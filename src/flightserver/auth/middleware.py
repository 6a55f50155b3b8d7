"""Checks every call's `authorization` header, as Flight SQL clients send it.

- `Basic <base64 user:password>` (the JDBC driver on Handshake, ADBC with
  username/password; ADBC leaves out the base64 padding): the password is
  checked and the response carries `authorization: Bearer <token>`.
- `Bearer <token>`: the token's signature and expiry are checked.
- Nothing: allowed only when anonymous access is configured.

pyarrow answers Handshake with UNIMPLEMENTED unless an auth handler is set, so
`PassThroughAuthHandler` lets Handshake through; the checking happens here.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections import defaultdict, deque

from pyarrow import flight

from flightserver.auth.tokens import Identity, InvalidToken, TokenIssuer
from flightserver.auth.users import User, verify_password

log = logging.getLogger(__name__)

MIDDLEWARE_KEY = "flightserver.auth"
ANONYMOUS_USER = "anonymous"


class AuthenticatedCall(flight.ServerMiddleware):
    def __init__(self, identity: Identity, issued_token: str | None) -> None:
        self.identity = identity
        self._issued_token = issued_token

    def sending_headers(self) -> dict[str, list[str] | list[bytes]]:
        if self._issued_token is None:
            return {}
        return {"authorization": [f"Bearer {self._issued_token}"]}


class LoginThrottle:
    """Refuses logins for a user after too many recent failures."""

    def __init__(self, max_failures: int, window_seconds: float) -> None:
        self._max = max_failures
        self._window = window_seconds
        self._failures: defaultdict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def locked(self, user: str) -> bool:
        with self._lock:
            failures = self._recent(user)
            return len(failures) >= self._max

    def failed(self, user: str) -> None:
        with self._lock:
            self._recent(user).append(time.monotonic())

    def _recent(self, user: str) -> deque[float]:
        failures = self._failures[user]
        while failures and failures[0] < time.monotonic() - self._window:
            failures.popleft()
        return failures


class AuthMiddlewareFactory(flight.ServerMiddlewareFactory):
    def __init__(
        self,
        users: dict[str, User],
        tokens: TokenIssuer,
        throttle: LoginThrottle,
        *,
        allow_anonymous: bool,
        default_role: str = "reader",
        anonymous_role: str = "reader",
    ) -> None:
        """`default_role`: of users whose entry names none; `anonymous_role`: of calls
        without credentials, when `allow_anonymous`."""
        self._users = users
        self._tokens = tokens
        self._throttle = throttle
        self._allow_anonymous = allow_anonymous
        self._default_role = default_role
        self._anonymous = Identity(ANONYMOUS_USER, anonymous_role)

    def start_call(
        self, info: flight.CallInfo, headers: dict[str, list[str] | list[bytes]]
    ) -> AuthenticatedCall:
        values = headers.get("authorization", [])
        header = values[0] if values else None
        if isinstance(header, bytes):
            header = header.decode("latin-1")
        if header is None:
            if self._allow_anonymous:
                return AuthenticatedCall(self._anonymous, None)
            raise flight.FlightUnauthenticatedError("authentication required")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() == "basic":
            identity = self._login(credentials.strip())
            return AuthenticatedCall(identity, self._tokens.issue(identity))
        if scheme.lower() == "bearer":
            try:
                return AuthenticatedCall(self._tokens.verify(credentials.strip()), None)
            except InvalidToken as exc:
                raise flight.FlightUnauthenticatedError(str(exc)) from None
        raise flight.FlightUnauthenticatedError(f"unsupported authorization scheme {scheme!r}")

    def _login(self, credentials: str) -> Identity:
        try:
            padded = credentials + "=" * (-len(credentials) % 4)  # ADBC omits padding
            user_name, _, password = base64.b64decode(padded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise flight.FlightUnauthenticatedError("malformed Basic credentials") from None
        if self._throttle.locked(user_name):
            log.warning("login refused for %r: too many failed attempts", user_name)
            raise flight.FlightUnauthenticatedError("too many failed logins; try again later")
        user = self._users.get(user_name)
        if user is None or not verify_password(user, password):
            self._throttle.failed(user_name)
            log.warning("failed login for %r", user_name)
            raise flight.FlightUnauthenticatedError("invalid user name or password")
        identity = Identity(user.name, user.role or self._default_role)
        log.info("login: %s (%s)", identity.user, identity.role)
        return identity


class PassThroughAuthHandler(flight.ServerAuthHandler):
    """Completes Handshake without a message exchange; AuthMiddlewareFactory checks calls."""

    def authenticate(self, outgoing: object, incoming: object) -> None:
        return None

    # pyarrow wants the peer identity (a str) here; its stubs say bool.
    def is_valid(self, token: str) -> str:  # pyright: ignore[reportIncompatibleMethodOverride]
        return ""


def call_identity(call: flight.ServerCallContext) -> Identity | None:
    """Who made the call; None on a server without users (no authentication)."""
    middleware = call.get_middleware(MIDDLEWARE_KEY)
    return middleware.identity if isinstance(middleware, AuthenticatedCall) else None


def call_role(call: flight.ServerCallContext) -> str | None:
    """The role whose policy the call runs under; None without authentication."""
    identity = call_identity(call)
    return identity.role if identity is not None else None
