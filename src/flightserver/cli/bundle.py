"""`flightserver bundle`: export a statement's plan bundle from a server."""

from __future__ import annotations

import json

import click

from flightserver.cli.options import (
    output_option,
    password,
    timeout_option,
    uri_option,
    user_option,
)


@click.command()
@uri_option
@user_option
@timeout_option
@output_option("the bundle JSON")
@click.argument("statement")
def bundle(
    *, uri: str, user: str | None, timeout: float | None, output: str, statement: str
) -> None:
    """Plan STATEMENT (SQL) on a server and export its plan bundle (JSON).

    The server also stores the bundle as an artifact; its id is printed on stderr.
    """
    from flightserver.cli.client import ClientError, action_json, connect

    body = json.dumps({"sql": statement}).encode()
    try:
        with connect(uri, user, password(user)) as connection:
            response = action_json(connection, "GetPlanBundle", timeout, body)
    except ClientError as exc:
        raise click.ClickException(str(exc)) from exc
    with click.open_file(output, "w") as stream:
        json.dump(response["bundle"], stream, indent=2, sort_keys=True)
        stream.write("\n")
    click.echo(f"artifact {response['artifact_id']}", err=True)
