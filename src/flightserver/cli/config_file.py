"""`flightserver config`: a commented TOML configuration file with every option at its
default."""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import click

from flightserver.cli.options import output_option
from flightserver.config import ConfigOption, ServerConfig, config_options


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string


def _default(defaults: ServerConfig, option: ConfigOption) -> Any:
    value: Any = defaults
    for part in option.path:
        value = getattr(value, part)
    return value


def config_template() -> str:
    """Every option, described; unset options commented out."""
    defaults = ServerConfig()
    sections: dict[tuple[str, ...], list[str]] = {}
    for option in config_options():
        lines = sections.setdefault(option.path[:-1], [])
        value = _default(defaults, option)
        key = option.path[-1]
        lines.append(f"# {option.description} ({option.flag}, {option.env_var})")
        lines.append(f"# {key} =" if value is None else f"{key} = {_toml_value(value)}")
        lines.append("")
    out = ["# flightserver configuration: flightserver serve --config FILE", ""]
    for path, lines in sections.items():
        if path:
            out.append(f"[{'.'.join(path)}]")
        out.extend(lines)
    return "\n".join(out).rstrip() + "\n"


@click.command("config")
@output_option("the file")
def config_command(output: str) -> None:
    """Write a configuration file (TOML) with every option, described, at its default."""
    with click.open_file(output, "w") as stream:
        stream.write(config_template())
