"""Configuration: one Struct, from TOML, overridden by env vars, then by flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pytest
from adbc_driver_manager import ProgrammingError

from flightserver.config import (
    ConfigError,
    PolicyConfig,
    ServerConfig,
    config_options,
    load_config,
)
from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.server_process import ServerProcess


def test_help_documents_every_option_and_its_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flightserver", "serve", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    # click wraps long lines, even inside words; compare without any whitespace.
    text = "".join(result.stdout.split())
    for option in config_options():
        assert option.flag in text
        assert option.env_var in text
        assert "".join(option.description.split()) in text


def test_toml_then_overrides(tmp_path: Path) -> None:
    config_file = tmp_path / "server.toml"
    config_file.write_text('port = 4000\nhost = "0.0.0.0"\n[policy]\nmax_scan_rows = 7\n')
    config = load_config(config_file, {"port": "5000", "policy__max_scan_bytes": "9"})
    assert config == ServerConfig(
        host="0.0.0.0",
        port=5000,
        policy=PolicyConfig(max_scan_rows=7, max_scan_bytes=9),
    )


@pytest.mark.parametrize(
    ("toml", "overrides", "field"),
    [
        ("port = 70000\n", {}, "port"),
        ("", {"port": "many"}, "port"),
        ("no_such_option = 1\n", {}, "no_such_option"),
    ],
)
def test_invalid_configuration_names_the_field(
    tmp_path: Path, toml: str, overrides: dict[str, str], field: str
) -> None:
    config_file = tmp_path / "server.toml"
    config_file.write_text(toml)
    with pytest.raises(ConfigError, match=field):
        load_config(config_file, overrides)


def test_invalid_flag_is_a_usage_error_not_a_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flightserver", "serve", "--port", "many"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "port" in result.stderr
    assert "Traceback" not in result.stderr


def _nation_allowed(server: ServerProcess) -> bool:
    with flightsql.connect(server.uri, autocommit=True) as conn:
        try:
            query(conn, "SELECT * FROM nation")
        except ProgrammingError:
            return False
        return True


def test_env_overrides_toml_and_flag_overrides_env(tmp_path: Path) -> None:
    config_file = tmp_path / "server.toml"
    config_file.write_text(f'catalog_dir = "{DEMO_CATALOG}"\n[policy]\nmax_scan_rows = 10\n')
    env = {"FLIGHTSERVER_POLICY_MAX_SCAN_ROWS": "1000"}
    with ServerProcess.start(["--config", str(config_file)]) as server:
        assert not _nation_allowed(server)  # TOML: 10 rows
    with ServerProcess.start(["--config", str(config_file)], env=env) as server:
        assert _nation_allowed(server)  # env: 1000 rows
    with ServerProcess.start(
        ["--config", str(config_file), "--policy-max-scan-rows", "10"], env=env
    ) as server:
        assert not _nation_allowed(server)  # flag: 10 rows
