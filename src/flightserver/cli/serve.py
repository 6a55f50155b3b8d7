"""`flightserver serve`: one flag per ServerConfig field (nested fields flattened),
each also readable from an environment variable; a TOML file gives the rest."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from flightserver.config import ConfigError, ServerConfig, config_options, load_config

log = logging.getLogger("flightserver")


def _config_flags(command: Callable[..., Any]) -> Callable[..., Any]:
    """Adds one click option per config field, with its env var and description."""
    defaults = ServerConfig()
    for option in reversed(list(config_options())):
        default: Any = defaults
        for part in option.path:
            default = getattr(default, part)
        help_text = f"{option.description} [default: {default}]"
        command = click.option(
            option.flag,
            option.param_name,
            type=str,
            default=None,
            envvar=option.env_var,
            show_envvar=True,
            help=help_text,
        )(command)
    return command


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="FLIGHTSERVER_CONFIG",
    show_envvar=True,
    help="TOML configuration file; flags and environment variables override it.",
)
@_config_flags
def serve(config_path: Path | None, **overrides: str | None) -> None:
    """Serve Flight SQL on HOST:PORT until interrupted."""
    try:
        config = load_config(config_path, overrides)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    from flightserver.ops.logs import configure_logging

    configure_logging(config.log_level, config.log_format)
    # DataFusion's threads recurse through deep plans; give them room (the
    # statement size limits keep expressions well within it). Set before the
    # engine starts any thread.
    os.environ.setdefault("RUST_MIN_STACK", str(64 * 1024 * 1024))
    # Imported here so `--help` works without loading the engine.
    from flightserver.app import build_server
    from flightserver.catalog.health import delta_states
    from flightserver.engine.session import Engine
    from flightserver.ops.runtime import Operations

    operations = Operations(config)  # health and HTTP ports: not ready yet
    try:
        started = time.perf_counter()
        engine = Engine(config)
        operations.catalog_loaded(engine.catalog, time.perf_counter() - started)
        # Refreshes (action, polling) keep metrics and the status page current.
        engine.catalog_loader.listeners.append(operations.catalog_loaded)
        operations.state.delta_tables = lambda: delta_states(engine.delta_tables)
        try:
            server = build_server(config, engine)
        except (OSError, ValueError) as exc:
            raise click.UsageError(str(exc)) from exc
        scheme = "grpc+tls" if config.tls.cert_file else "grpc"

        loaded = sum(status.loaded for status in engine.catalog)
        log.info(
            "catalog %s: %d tables loaded, %d failed",
            config.catalog_dir,
            loaded,
            len(engine.failed_tables),
        )
        stop = stop_on_signals()
        operations.serving(server.statements.queries, server.sessions)
        # The line tests and scripts wait for: the port is bound and serving.
        print(f"flightserver listening on {scheme}://{config.host}:{server.port}", flush=True)
        while not stop.wait(1.0):
            pass
        log.info("shutting down: refusing new calls, cancelling running queries")
        operations.stopping()
        server.statements.cancel_all()
        # pyarrow's shutdown waits for every running call; give them a deadline.
        stopper = threading.Thread(target=server.shutdown, daemon=True)
        stopper.start()
        stopper.join(config.shutdown_grace_seconds)
        if stopper.is_alive():
            log.warning(
                "calls still running after %g s; exiting anyway", config.shutdown_grace_seconds
            )
            logging.shutdown()
            os._exit(1)
    finally:
        operations.stop()
    log.info("stopped")
    sys.exit(0)


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT."""
    received = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: received.set())
    return received
