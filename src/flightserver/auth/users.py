"""The users file: who may log in, with which password hash and role.

TOML, for example::

    [[users]]
    name = "alice"
    password_hash = "$argon2id$v=19$m=65536,t=3,p=4$..."   # `hash_password("...")`
    role = "reader"        # optional: without it, the server's auth.default_role

Roles are the server's `roles` (built in: reader, writer, admin); each names the
Rust policy its user's statements run under.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher()


class User(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    password_hash: Annotated[str, msgspec.Meta(description="argon2id hash of the password.")]
    role: Annotated[
        str | None, msgspec.Meta(description="The user's role (unset: auth.default_role).")
    ] = None


class UsersFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    users: list[User] = msgspec.field(default_factory=list)


class UsersFileError(ValueError):
    pass


def hash_password(password: str) -> str:
    """A salted argon2id hash for the users file."""
    return _HASHER.hash(password)


def load_users(path: Path) -> dict[str, User]:
    try:
        users = msgspec.convert(tomllib.loads(path.read_text()), UsersFile).users
    except (OSError, tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
        raise UsersFileError(f"cannot read users file {path}: {exc}") from exc
    return {user.name: user for user in users}


def verify_password(user: User, password: str) -> bool:
    try:
        return _HASHER.verify(user.password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
