"""The `flightserver` command line: `serve`, and the operator commands that talk to a
running server over Flight (one module each beside this one)."""

from __future__ import annotations

import click

from flightserver import __version__
from flightserver.cli.bundle import bundle
from flightserver.cli.catalog import catalog_group
from flightserver.cli.config_file import config_command
from flightserver.cli.health import health
from flightserver.cli.maintenance import maintenance
from flightserver.cli.query import query
from flightserver.cli.serve import serve
from flightserver.cli.user import user_command
from flightserver.cli.worker import worker


@click.group()
@click.version_option(__version__, prog_name="flightserver")
def main() -> None:
    """flightserver: an Arrow Flight SQL server for DataFusion over Delta Lake and files."""


for _command in (
    serve,
    query,
    health,
    config_command,
    user_command,
    bundle,
    catalog_group,
    maintenance,
    worker,
):
    main.add_command(_command)
