"""Authentication and TLS, through ADBC and pyarrow.flight against real servers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import adbc_driver_flightsql.dbapi as flightsql
import jwt
import pytest
from adbc_driver_flightsql import DatabaseOptions
from adbc_driver_manager import AdbcStatusCode, Error
from pyarrow import flight

from flightserver.auth.users import hash_password
from tests.certificates import make_certificates
from tests.clients import query
from tests.conftest import DEMO_CATALOG
from tests.jdbc.probe import ProbeRunner
from tests.jdbc.toolchain import compile_probe, fetch_driver
from tests.server_process import ServerProcess
from tests.test_jdbc import DRIVER_VERSIONS

PASSWORD = "correct horse battery staple"
SECRET = "test-token-secret-that-is-long-enough-for-hs256"


def users_file(folder: Path) -> Path:
    path = folder / "users.toml"
    path.write_text(
        f'[[users]]\nname = "alice"\npassword_hash = "{hash_password(PASSWORD)}"\nrole = "reader"\n'
    )
    return path


def start(folder: Path, *extra: str) -> ServerProcess:
    args = ["--catalog-dir", str(DEMO_CATALOG), "--state-dir", str(folder / "state")]
    return ServerProcess.start([*args, *extra])


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    folder = tmp_path_factory.mktemp("auth")
    flags = ["--auth-users-file", str(users_file(folder)), "--auth-token-secret", SECRET]
    with start(folder, *flags, "--auth-max-failed-logins", "3") as server:
        yield server


def count_regions(conn: flightsql.Connection) -> int:
    return query(conn, "SELECT count(*) AS n FROM region")["n"].to_pylist()[0] or 0


def test_password_login_with_adbc(secured: ServerProcess) -> None:
    kwargs = {"username": "alice", "password": PASSWORD}
    with flightsql.connect(secured.uri, db_kwargs=kwargs, autocommit=True) as conn:
        assert count_regions(conn) == 5
    assert PASSWORD not in secured.log


def test_calls_without_credentials_are_unauthenticated(secured: ServerProcess) -> None:
    with pytest.raises(Error) as raised, flightsql.connect(secured.uri, autocommit=True) as conn:
        count_regions(conn)
    assert raised.value.status_code == AdbcStatusCode.UNAUTHENTICATED


def test_handshake_returns_a_bearer_token_that_works(secured: ServerProcess) -> None:
    with flight.connect(secured.uri) as client:
        header, value = client.authenticate_basic_token("alice", PASSWORD)
    # pyarrow returns bytes; its stubs say str.
    text = value.decode() if isinstance(value, bytes) else value
    assert header in (b"authorization", "authorization") and text.startswith("Bearer ")
    options = {DatabaseOptions.AUTHORIZATION_HEADER.value: text}
    with flightsql.connect(secured.uri, db_kwargs=options, autocommit=True) as conn:
        assert count_regions(conn) == 5


@pytest.mark.parametrize(
    "token",
    [
        jwt.encode({"sub": "alice", "exp": int(time.time()) - 10}, SECRET, algorithm="HS256"),
        jwt.encode(
            {"sub": "alice", "exp": int(time.time()) + 600},
            "another-secret-of-thirty-two-bytes-or-more",
            algorithm="HS256",
        ),
        "not-a-token",
    ],
    ids=["expired", "forged", "garbage"],
)
def test_bad_tokens_are_refused(secured: ServerProcess, token: str) -> None:
    options = {DatabaseOptions.AUTHORIZATION_HEADER.value: f"Bearer {token}"}
    with (
        pytest.raises(Error) as raised,
        flightsql.connect(secured.uri, db_kwargs=options, autocommit=True) as conn,
    ):
        count_regions(conn)
    assert raised.value.status_code == AdbcStatusCode.UNAUTHENTICATED


def test_failed_logins_are_throttled_and_logged_without_the_password(tmp_path: Path) -> None:
    flags = ["--auth-users-file", str(users_file(tmp_path)), "--auth-max-failed-logins", "2"]
    with start(tmp_path, *flags) as server:
        for attempt in range(3):
            with (
                pytest.raises(Error),
                flightsql.connect(
                    server.uri,
                    db_kwargs={"username": "alice", "password": f"wrong-{attempt}"},
                    autocommit=True,
                ) as conn,
            ):
                count_regions(conn)
        # Locked out now, even with the right password.
        with (
            pytest.raises(Error, match="too many failed logins"),
            flightsql.connect(
                server.uri, db_kwargs={"username": "alice", "password": PASSWORD}, autocommit=True
            ) as conn,
        ):
            count_regions(conn)
        assert "failed login for 'alice'" in server.log
        assert "wrong-0" not in server.log and PASSWORD not in server.log


def test_anonymous_access_when_configured(tmp_path: Path) -> None:
    flags = ["--auth-users-file", str(users_file(tmp_path)), "--auth-allow-anonymous", "true"]
    with start(tmp_path, *flags) as server, flightsql.connect(server.uri, autocommit=True) as conn:
        assert count_regions(conn) == 5


def test_tls_and_mutual_tls(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path)
    tls = ["--tls-cert-file", str(certs.server_cert), "--tls-key-file", str(certs.server_key)]
    trust = {DatabaseOptions.TLS_ROOT_CERTS.value: certs.ca.read_text()}
    with start(tmp_path, *tls) as server:
        assert server.uri.startswith("grpc+tls://")
        with flightsql.connect(server.uri, db_kwargs=trust, autocommit=True) as conn:
            assert count_regions(conn) == 5
    with start(tmp_path, *tls, "--tls-client-ca-file", str(certs.ca)) as server:
        with (
            pytest.raises(Error),
            flightsql.connect(server.uri, db_kwargs=trust, autocommit=True) as conn,
        ):
            count_regions(conn)  # no client certificate
        client = {
            **trust,
            DatabaseOptions.MTLS_CERT_CHAIN.value: certs.client_cert.read_text(),
            DatabaseOptions.MTLS_PRIVATE_KEY.value: certs.client_key.read_text(),
        }
        with flightsql.connect(server.uri, db_kwargs=client, autocommit=True) as conn:
            assert count_regions(conn) == 5


@pytest.mark.parametrize("version", DRIVER_VERSIONS)
def test_jdbc_user_and_password_log_in(secured: ServerProcess, version: str) -> None:
    driver = fetch_driver(version)
    classes = compile_probe()
    good = ProbeRunner(driver, classes, secured.port, f"&user=alice&password={quote(PASSWORD)}")
    report = good.run("query")
    assert len(report.table("statement:executeQuery").raw_rows) == 25
    bad = ProbeRunner(driver, classes, secured.port, "&user=alice&password=wrong")
    refused = bad.run("query")
    assert not refused.ok("connect")
    assert "invalid user name or password" in refused.failure("connect")
