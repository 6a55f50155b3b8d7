"""Options shared by the operator commands: which server, as whom, how long to wait."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

import click

FC = TypeVar("FC", bound=Callable[..., object] | click.Command)

DEFAULT_URI = "grpc://127.0.0.1:32010"

uri_option = click.option(
    "--uri",
    default=DEFAULT_URI,
    envvar="FLIGHTSERVER_URI",
    show_envvar=True,
    show_default=True,
    help="The server to talk to.",
)
user_option = click.option(
    "--user",
    default=None,
    envvar="FLIGHTSERVER_USER",
    show_envvar=True,
    help="Log in as this user (password from FLIGHTSERVER_PASSWORD, else asked for).",
)
timeout_option = click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Give up after this many seconds (default: wait).",
)


def password(user: str | None) -> str | None:
    """The password for USER: FLIGHTSERVER_PASSWORD, else asked for (no user: none)."""
    if user is None:
        return None
    value = os.environ.get("FLIGHTSERVER_PASSWORD")
    if value is None:
        value = click.prompt(f"password for {user}", hide_input=True, err=True)
    return value


def output_option(what: str) -> Callable[[FC], FC]:
    """`--output/-o FILE` for a command that writes `what` (-: standard output)."""
    return click.option(
        "--output",
        "-o",
        type=click.Path(dir_okay=False, writable=True),
        default="-",
        show_default=True,
        help=f"Where to write {what} (-: standard output).",
    )
