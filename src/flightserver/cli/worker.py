"""`flightserver worker`: a datafusion-distributed worker that runs the stages a
coordinating `flightserver serve --workers ...` sends it."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from flightserver import __version__
from flightserver.cli.serve import stop_on_signals

log = logging.getLogger("flightserver")


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    envvar="FLIGHTSERVER_WORKER_HOST",
    show_envvar=True,
    show_default=True,
    help="Address to listen on (keep workers on a private network).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=50100,
    envvar="FLIGHTSERVER_WORKER_PORT",
    show_envvar=True,
    show_default=True,
    help="Port to listen on (0: a free one, printed at start).",
)
@click.option(
    "--secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="FLIGHTSERVER_WORKER_SECRET_FILE",
    show_envvar=True,
    help="File holding the secret shared with the coordinator; requests without it are "
    "refused. The coordinator's [distributed] secret_file.",
)
def worker(host: str, port: int, secret_file: Path | None) -> None:
    """Run query stages for a coordinating server until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Imported here so `--help` works without loading the engine.
    from flightserver.engine.distributed import read_secret
    from flightserver.engine.native import start_worker

    try:
        secret = read_secret(str(secret_file) if secret_file is not None else None)
        running = start_worker(host, port, secret=secret, version=__version__)
    except (OSError, ValueError, RuntimeError) as exc:
        raise click.UsageError(str(exc)) from exc
    if secret is None:
        log.warning("no --secret-file: this worker runs any plan sent to %s", running.address)
    stop = stop_on_signals()
    # The line tests and scripts wait for: the port is bound and serving.
    print(f"flightserver worker listening on {running.address}", flush=True)
    while not stop.wait(1.0):
        pass
    running.stop()
    log.info("worker stopped")
