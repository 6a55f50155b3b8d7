"""Where DataFusion's sqllogictest files come from: the crate, fetched by cargo.

The files are never copied into this repository. A throwaway Cargo project in the
cache folder depends on the exact crate version; `cargo metadata` fetches it
(nothing is built) and says where cargo unpacked it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

CRATE = "datafusion-sqllogictest"
VERSION = "55.2.0"
# The crate's runner runs these folders only with other engines: PostgreSQL
# (pg_compat) or a Spark-dialect context with the Spark functions (spark), which
# the datafusion wheel does not have.
EXCLUDED_FOLDERS = frozenset({"pg_compat", "spark"})


def cache_dir() -> Path:
    base = os.environ.get("FLIGHTSERVER_CACHE") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "flightserver"
    )
    return Path(base) / "sqllogictest"


def crate_root() -> Path:
    """The unpacked crate (its `test_files/` and `data/`), fetching it when needed."""
    project = cache_dir() / f"fetch-{VERSION}"
    (project / "src").mkdir(parents=True, exist_ok=True)
    (project / "src" / "main.rs").write_text("fn main() {}\n")
    (project / "Cargo.toml").write_text(
        '[package]\nname = "sqllogictest-fetch"\nversion = "0.0.0"\nedition = "2021"\n'
        f'publish = false\n\n[dependencies]\n{CRATE} = "={VERSION}"\n'
    )
    metadata = subprocess.run(
        [
            "cargo",
            "metadata",
            "--format-version",
            "1",
            "--manifest-path",
            str(project / "Cargo.toml"),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    for package in json.loads(metadata.stdout)["packages"]:
        if package["name"] == CRATE and package["version"] == VERSION:
            return Path(package["manifest_path"]).parent
    raise RuntimeError(f"cargo did not fetch {CRATE} {VERSION}")


def working_copy(root: Path, destination: Path) -> Path:
    """A writable copy of the crate's files, laid out as in DataFusion's repository
    (`<workspace>/datafusion/sqllogictest`), whose directory the files run in:
    their relative paths and the `WORKSPACE_ROOT` of expected plans resolve there."""
    crate_dir = destination / "datafusion" / "sqllogictest"
    if crate_dir.exists():
        shutil.rmtree(crate_dir)
    crate_dir.mkdir(parents=True)
    for folder in ("test_files", "data"):
        shutil.copytree(root / folder, crate_dir / folder)
    for path in crate_dir.rglob("*"):  # cargo unpacks read-only
        path.chmod(path.stat().st_mode | 0o200)
    return crate_dir


def suite_files(crate_dir: Path) -> list[Path]:
    """The files DataFusion's runner runs with its own engine, relative to test_files."""
    test_files = crate_dir / "test_files"
    return sorted(
        path.relative_to(test_files)
        for path in test_files.rglob("*.slt")
        if path.is_file() and not EXCLUDED_FOLDERS.intersection(path.relative_to(test_files).parts)
    )


def clear_scratch(crate_dir: Path, relative: Path) -> None:
    """The file's scratch folder emptied, as DataFusion's runner does before each file."""
    scratch = crate_dir / "test_files" / "scratch" / relative.with_suffix("").name
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
