"""The JDK and Maven: fetching the JDBC driver jar and compiling the Java probe.

The driver comes from Maven Central through the machine's own `mvn` (so its
settings, mirrors and proxies apply) and is kept in the flightserver cache
folder, one jar per version. A missing tool skips the tests that need it (and
conftest turns a skip into a failure when CI=true); a tool that fails fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PROBE_SOURCE = Path(__file__).with_name("JdbcProbe.java")
DRIVER_ARTIFACT = "org.apache.arrow:flight-sql-jdbc-driver"
# Pinned so a fetch means the same thing on every machine; 3.8.1 runs on Maven 3.6.3+.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


def cache_dir() -> Path:
    """Where driver jars are kept: the same cache folder as scripts/setup.sh uses."""
    root = os.environ.get("FLIGHTSERVER_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "flightserver"
    )
    return Path(root) / "jdbc"


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed: the JDBC driver tests need a JDK and Maven")
    return path


@dataclass(frozen=True)
class JdbcDriver:
    version: str
    jar: Path


def fetch_driver(version: str) -> JdbcDriver:
    """The driver jar of `version`, fetched with Maven on first use."""
    jar = cache_dir() / f"flight-sql-jdbc-driver-{version}.jar"
    if not jar.is_file():
        mvn = require_tool("mvn")
        jar.parent.mkdir(parents=True, exist_ok=True)
        # Copied next to the cache, then renamed: a concurrent or interrupted
        # fetch never leaves a partial jar under the final name.
        with tempfile.TemporaryDirectory(dir=jar.parent) as staging:
            command = [
                mvn,
                "--batch-mode",
                "--quiet",
                f"{DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact={DRIVER_ARTIFACT}:{version}",
                f"-DoutputDirectory={staging}",
            ]
            done = subprocess.run(command, capture_output=True, text=True, check=False)
            fetched = Path(staging) / jar.name
            if done.returncode != 0 or not fetched.is_file():
                pytest.fail(
                    f"mvn could not fetch {DRIVER_ARTIFACT}:{version}:\n"
                    f"$ {' '.join(command)}\n{done.stdout}{done.stderr}",
                    pytrace=False,
                )
            fetched.replace(jar)
    return JdbcDriver(version, jar)


def compile_probe() -> Path:
    """JdbcProbe.java compiled (once per source version) into the cache folder.

    It needs only java.sql, so it compiles without the driver jar.
    """
    digest = hashlib.sha256(PROBE_SOURCE.read_bytes()).hexdigest()[:16]
    classes = cache_dir() / f"probe-{digest}"
    if (classes / "JdbcProbe.class").is_file():
        return classes
    javac = require_tool("javac")
    classes.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=classes.parent) as staging:
        # Java 11 bytecode: the oldest Java the driver runs on.
        command = [javac, "--release", "11", "-encoding", "UTF-8", "-d", staging, str(PROBE_SOURCE)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"javac failed:\n{done.stdout}{done.stderr}", pytrace=False)
        with contextlib.suppress(OSError):  # another run compiled the same source first
            Path(staging).rename(classes)
    return classes
