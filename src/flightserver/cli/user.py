"""`flightserver user`: a users-file entry with an argon2id password hash."""

from __future__ import annotations

import json
import sys

import click


@click.command("user")
@click.argument("name")
@click.option("--role", default="reader", show_default=True, help="The user's role.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (default: ask for it twice).",
)
def user_command(name: str, role: str, password_stdin: bool) -> None:
    """Print a users-file entry (TOML) for NAME, with an argon2id password hash.

    Append it to the file that `serve --auth-users-file` reads.
    """
    from flightserver.auth.users import User, hash_password

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt(
            f"password for {name}", hide_input=True, confirmation_prompt=True, err=True
        )
    if not password:
        raise click.UsageError("the password is empty")
    entry = User(name=name, password_hash=hash_password(password), role=role)
    click.echo("[[users]]")
    for key in ("name", "password_hash", "role"):
        click.echo(f"{key} = {json.dumps(getattr(entry, key))}")
