"""One generated stream through every engine gives the same detections.

`txn-assets run` as a user starts it, on the end-to-end tests' stream: (a) classic local Spark in
process is the reference (conftest's `e2e_reference_home`); (b) Spark Connect is the engine of
`txn-assets dev`, whose daemon path test_dagster_dev compares with the same reference (and
`lib/test_spark_connect.py` compares the parse); here (c) the standalone cluster (one master, two
one-core workers) *and* (d) an external PostgreSQL that takes only TLS with a password, reached
only through `DATABASE_URL` — (c) and (d) in one run, to keep the suite short. Each run's detection
files must equal the reference's file by file and row by row (all but the two time columns,
which are wall-clock times), and its ledger must be the same.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import psycopg
import pytest

from txn_assets.lib.generate import GeneratedFiles
from txn_assets.lib.services.postgres import start_postgres, stop_postgres
from txn_assets.stack import PROJECT_ROOT, database_url_for
from txn_assets_tests.devstack import E2E_CHUNK_ROWS, E2E_RULES
from txn_assets_tests.external_postgres import ExternalPostgres, start_external_postgres
from txn_assets_tests.test_faults import home_processes

pytestmark = pytest.mark.slow

LEDGER = (
    "SELECT chunk_index, content_md5, status, valid_rows, quarantined_rows, detections, "
    "detections_total, female_rows, male_rows, neither_rows, unknown_gender_rows "
    "FROM txn.applied_chunk ORDER BY chunk_index"
)


@dataclass(frozen=True)
class Outcome:
    """What a stream left: detection files (rows without their times) and the ledger."""

    files: dict[str, list[tuple[str, ...]]]
    ledger: list[tuple[Any, ...]]


@pytest.fixture(scope="module")
def external_postgres(tmp_path_factory: pytest.TempPathFactory):
    """A second server, started apart from the stream: TLS only, password only."""
    server = start_external_postgres(tmp_path_factory.mktemp("external") / "data")
    try:
        yield server
    finally:
        server.stop()


def _run_args(home: Path, files: GeneratedFiles, *extra: str) -> list[str]:
    return [
        *("run", "--home", str(home), "--interval", "0"),
        *("--transactions", str(files.transactions), "--importance", str(files.importance)),
        *("--chunk-rows", str(E2E_CHUNK_ROWS), *extra),
    ]


def _env(database_url: str | None = None) -> dict[str, str]:
    """The test's environment without any given database or Spark, plus scaled rules."""
    given = ("DATABASE_URL", "TXN_SPARK_REMOTE", "TXN_SPARK_MASTER")
    env = {k: v for k, v in os.environ.items() if k not in given}
    env["TXN_RULES"] = json.dumps(E2E_RULES)
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _detection_files(home: Path) -> dict[str, list[tuple[str, ...]]]:
    found = {}
    for path in sorted((home / "blob" / "detections").glob("detections-*.csv")):
        rows = list(csv.reader(io.StringIO(path.read_text())))
        assert rows[0][:2] == ["YStartTime", "detectionTime"]
        found[path.name] = [tuple(row[2:]) for row in rows[1:]]
    return found


def _ledger(database_url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute(LEDGER).fetchall()


def _outcome_of_home(home: Path) -> Outcome:
    """The outcome of a run on the home's own embedded server (started again to read it)."""
    server = start_postgres(home / "postgres")
    try:
        return Outcome(_detection_files(home), _ledger(server.url("txn")))
    finally:
        stop_postgres(home / "postgres")


@pytest.fixture(scope="module")
def files(e2e_files: GeneratedFiles) -> GeneratedFiles:
    return e2e_files


@pytest.fixture(scope="module")
def reference(e2e_reference_home: Path) -> Outcome:
    """(a) classic local Spark in process, on the home's embedded PostgreSQL."""
    outcome = _outcome_of_home(e2e_reference_home)
    assert sum(len(rows) for rows in outcome.files.values()) > 100, "the data must detect"
    assert [row[0] for row in outcome.ledger] == list(range(12))
    return outcome


def test_the_external_server_takes_only_tls_with_a_password(external_postgres: ExternalPostgres):
    # Without TLS, with the right password: no pg_hba entry allows it.
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(external_postgres.url(sslmode="disable"), connect_timeout=5)
    # TLS with a wrong password, and the superuser name without one: refused.
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(external_postgres.url(password="wrong"), connect_timeout=5)
    port = external_postgres.port
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres?sslmode=require")
    # The certificate is the server's own: verify-full against it holds.
    verified = external_postgres.url("verify-full", sslrootcert=str(external_postgres.certificate))
    with psycopg.connect(verified, connect_timeout=5) as conn:
        assert conn.execute(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
        ).fetchone() == (True,)
        assert conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() == (False,)


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1 from a JVM
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def _jvms_of(home: Path) -> list[psutil.Process]:
    """The JVMs working for this home: the driver, the master, the workers and the executors
    (each names a log or work folder of the home on its command line)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] == "java" and str(home) in " ".join(process.info["cmdline"] or []):
            found.append(process)
    return found


def _role(cmdline: str) -> str | None:
    if "org.apache.spark.launcher.Main" in cmdline:
        return None  # spark-class's short-lived JVM that only builds the real command line
    for name, marker in (
        ("master", "deploy.master.Master"),
        ("worker", "deploy.worker.Worker"),
        ("executor", "CoarseGrainedExecutorBackend"),
    ):
        if marker in cmdline:
            return name
    return None


def test_cluster_on_an_external_database_gives_the_reference_detections_on_loopback_only(
    files, reference, external_postgres, tmp_path
):
    """(c) the standalone cluster's executors do the Spark work, and (d) the state and Dagster's
    storage live on the external server, reached only through DATABASE_URL (TLS + password)."""
    home = tmp_path / "home"
    home.mkdir()
    console = home.parent / "console.log"
    run = subprocess.Popen(
        [sys.executable, "-m", "txn_assets.cli", *_run_args(home, files, "--spark", "cluster")],
        cwd=PROJECT_ROOT,
        env=_env(external_postgres.url()),
        stdout=console.open("wb"),
        stderr=subprocess.STDOUT,
    )
    seen: dict[int, str] = {}  # pid -> role, for every cluster JVM seen while the run lasted
    listening: set[tuple[str, str]] = set()
    try:
        while run.poll() is None:
            for process in _jvms_of(home):
                try:
                    cmdline = " ".join(process.cmdline())
                    sockets = process.net_connections(kind="inet")
                except psutil.Error:
                    continue
                role = _role(cmdline)
                if role:
                    seen[process.pid] = role
                listening |= {
                    (role or "driver", c.laddr.ip)
                    for c in sockets
                    if c.status == psutil.CONN_LISTEN
                }
            time.sleep(1)
    finally:
        if run.poll() is None:
            run.kill()
    output = console.read_text(errors="replace")
    assert run.returncode == 0, output[-3000:]

    roles = sorted(seen.values())
    assert roles.count("master") == 1 and roles.count("worker") == 2, roles
    assert roles.count("executor") >= 2, roles  # one per worker: the work really spread
    assert {role for role, _ in listening} >= {"driver", "master", "worker", "executor"}, listening
    assert all(_loopback(ip) for _, ip in listening), listening
    for worker in ("worker-1", "worker-2"):  # each worker ran an executor of the stream
        assert list((home / "spark-cluster" / worker).glob("app-*/*")), worker
    # Whoever started the cluster stopped it: nothing of this home is left running.
    deadline = time.monotonic() + 15
    while home_processes(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not home_processes(home), [" ".join(p.cmdline())[:120] for p in home_processes(home)]

    # Nothing embedded was started; the password never reached the console or the logs.
    assert not (home / "postgres").exists()
    logs = "".join(p.read_text(errors="replace") for p in home.rglob("*.log") if p.is_file())
    for secret in (external_postgres.password, quote(external_postgres.password, safe="")):
        assert secret not in output and secret not in logs
    txn_url = database_url_for(external_postgres.url(), "txn")
    outcome = Outcome(_detection_files(home), _ledger(txn_url))
    assert outcome == reference
    dagster_url = database_url_for(external_postgres.url(), "dagster")
    with psycopg.connect(dagster_url) as conn:
        (runs,) = conn.execute("SELECT count(*) FROM runs").fetchone()  # type: ignore[misc]
        assert runs >= 2  # the weights and Mechanism Y's runs, recorded on the external server
