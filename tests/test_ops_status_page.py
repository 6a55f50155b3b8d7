"""The status page, rendered by a real headless chromium: DOM and screenshot."""

from __future__ import annotations

import json
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import adbc_driver_flightsql.dbapi as flightsql
import pyarrow as pa
import pytest
from deltalake import write_deltalake
from PIL import Image

from tests.catalog_files import define
from tests.conftest import DEMO_CATALOG, REPO
from tests.server_process import ServerProcess

# The badge colours of status.html: solid fills a screenshot shows exactly.
OK_GREEN = (0x1E, 0x84, 0x49)
ERROR_RED = (0xC0, 0x39, 0x2B)
WINDOW = (1280, 1400)
# A badge is about 90x20 pixels; a few hundred pixels of a colour means a badge.
BADGE_PIXELS = 300


@pytest.fixture(scope="session")
def chromium() -> str:
    """A chromium to drive; installed from Debian when missing (CI runs as root)."""
    result = subprocess.run(
        [str(REPO / "scripts" / "ensure-chromium.sh")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"no chromium: {result.stderr.strip()}")
    return result.stdout.strip()


@pytest.fixture(scope="module")
def ops_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    state_dir = tmp_path_factory.mktemp("ops-status-state")
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(state_dir)]
    args += ["--http-port", "0"]
    with ServerProcess.start(args) as process:
        yield process


def _browse(chromium: str, url: str, profile: Path, *mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            # Lets the page's fetch of /api/status finish before the capture.
            "--virtual-time-budget=8000",
            *mode,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _screenshot(chromium: str, url: str, tmp: Path, name: str) -> Image.Image:
    path = tmp / f"{name}.png"
    result = _browse(chromium, url, tmp / f"profile-{name}", f"--screenshot={path}")
    assert path.exists(), result.stderr
    return Image.open(path).convert("RGB")


def _count(image: Image.Image, colour: tuple[int, int, int]) -> int:
    histogram = image.getcolors(maxcolors=image.width * image.height) or []
    return sum(count for count, pixel in histogram if pixel == colour)


def test_status_page_renders_history(
    chromium: str, ops_server: ServerProcess, tmp_path: Path
) -> None:
    url = ops_server.announced("http") + "/"
    with flightsql.connect(ops_server.uri, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("SELECT r_name FROM region")
        assert cur.fetch_arrow_table().num_rows == 5

    # Before any failure: green badges (ready, the query, the tables), nothing red.
    before = _screenshot(chromium, url, tmp_path, "before")
    assert before.size == WINDOW
    assert _count(before, OK_GREEN) > BADGE_PIXELS
    assert _count(before, ERROR_RED) == 0

    with (
        flightsql.connect(ops_server.uri, autocommit=True) as conn,
        conn.cursor() as cur,
        pytest.raises(flightsql.Error),
    ):
        cur.execute("SELECT * FROM no_such_table")

    # The failed query's row brings a red badge.
    after = _screenshot(chromium, url, tmp_path, "after")
    assert _count(after, ERROR_RED) > BADGE_PIXELS

    # The DOM chromium built from /api/status lists both queries by id.
    dom = _browse(chromium, url, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    assert 'data-state="rendered"' in dom.stdout
    with urllib.request.urlopen(ops_server.announced("http") + "/api/status") as response:
        status = json.load(response)
    history = status["recent_queries"]
    assert [q["status"] for q in history] == ["error", "ok"]
    for query in history:
        assert query["query_id"] in dom.stdout
    assert "SELECT r_name FROM region" in dom.stdout
    assert "no_such_table" in dom.stdout


# The catalog view: a warning badge (a Delta table read by the fallback provider).
WARNING_AMBER = (0xB9, 0x77, 0x0E)


def test_status_page_shows_catalog_health_and_delta_pins(
    chromium: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    catalog = tmp_path_factory.mktemp("status-catalog")
    write_deltalake(catalog / "data" / "ledger", pa.table({"v": [1, 2]}))
    define(catalog, "ledger", 'name = "ledger"\nformat = "delta"\nlocation = "data/ledger"\n')
    nested = pa.table({"id": [1], "s": [{"a": 1}]})
    mapping = {"delta.columnMapping.mode": "name"}
    write_deltalake(catalog / "data" / "nested", nested, configuration=mapping)
    define(catalog, "nested", 'name = "nested"\nformat = "delta"\nlocation = "data/nested"\n')
    define(catalog, "lost", 'name = "lost"\nformat = "csv"\nlocation = "data/lost.csv"\n')
    args = ["--catalog-dir", str(catalog), "--state-dir", str(tmp_path / "state")]
    with ServerProcess.start([*args, "--http-port", "0"]) as server:
        url = server.announced("http") + "/"
        shot = _screenshot(chromium, url, tmp_path, "catalog")
        dom = _browse(chromium, url, tmp_path / "profile-catalog-dom", "--dump-dom")
        with urllib.request.urlopen(url + "api/status") as response:
            status = json.load(response)
    # Loaded (green), the fallback's warning (amber), the missing file (red).
    assert _count(shot, OK_GREEN) > BADGE_PIXELS
    assert _count(shot, WARNING_AMBER) > BADGE_PIXELS
    assert _count(shot, ERROR_RED) > BADGE_PIXELS
    assert 'data-state="rendered"' in dom.stdout
    pins = {pin["table"]: pin for pin in status["catalog"]["delta_tables"]}
    ledger = pins["datafusion.public.ledger"]
    assert ledger["table_version"] == 0
    assert ledger["file_set_sha256"] in dom.stdout
    assert "datafusion.public.nested" in dom.stdout and "columnMapping" in dom.stdout
    assert "lost.csv does not exist" in dom.stdout
