"""Bearer tokens: signed (HS256), expiring, naming the user and role."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import jwt


@dataclass(frozen=True)
class Identity:
    user: str
    role: str


class InvalidToken(ValueError):
    pass


class TokenIssuer:
    def __init__(self, ttl_seconds: float, secret: str | None = None) -> None:
        # Without a configured secret, tokens are valid for this process's life only.
        self._secret = secret or secrets.token_urlsafe(32)
        self._ttl = ttl_seconds

    def issue(self, identity: Identity) -> str:
        now = int(time.time())
        claims = {
            "sub": identity.user,
            "role": identity.role,
            "iat": now,
            "exp": now + int(self._ttl),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def verify(self, token: str) -> Identity:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=["HS256"], options={"require": ["exp", "sub"]}
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired; log in again") from exc
        except jwt.InvalidTokenError as exc:
            raise InvalidToken("invalid token") from exc
        return Identity(str(claims["sub"]), str(claims.get("role", "reader")))
