"""`dagster dev` end to end: webserver and daemon on loopback, the sensor switched on over GraphQL,
chunks staged, and Mechanism Y's materialisations seen in the instance."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.generate import generate
from txn_assets.lib.producer import cut_next_chunk
from txn_assets.lib.services.ports import free_port, stop_process_group
from txn_assets.lib.sources.local_file import LocalFileSource
from txn_assets.lib.state.engine import load_weights
from txn_assets.lib.stores.local import LocalFolderStore
from txn_assets.stack import PROJECT_ROOT, dagster_dev_command, database_url_for

START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""


def _graphql(port: int, query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait_for_webserver(port: int, process: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "dagster dev exited early"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2):
                return
        except OSError:
            time.sleep(1)
    raise TimeoutError("the Dagster webserver did not come up")


@pytest.fixture
def dagster_database(postgres_admin_url):
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier("smoke_dagster")
            )
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier("smoke_dagster")))
    yield database_url_for(postgres_admin_url, "smoke_dagster", scheme="postgresql+psycopg2")


@pytest.mark.slow
def test_dagster_dev_sensor_materialises_staged_chunks(
    database_url, dagster_database, spark, tmp_path
):
    files = generate(tmp_path / "source", rows=3_000, seed=5)
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TXN_DAGSTER_PG_URL": dagster_database,
        "TXN_DATABASE_URL": database_url,
        "TXN_STORE_ROOT": str(tmp_path / "blob"),
        "TXN_SCRATCH_DIR": str(tmp_path / "scratch"),
        "TXN_TRANSACTIONS_PATH": str(files.transactions),
        "TXN_IMPORTANCE_PATH": str(files.importance),
        "TXN_CHUNK_ROWS": "1000",
    }
    with psycopg.connect(database_url) as conn:
        load_weights(conn, spark, str(files.importance), md5_file(files.importance))
    port = free_port()
    process = subprocess.Popen(
        dagster_dev_command(port),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=(tmp_path / "dev.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for_webserver(port, process)
        selector = {
            "repositoryLocationName": "txn_assets",
            "repositoryName": "__repository__",
            "sensorName": "new_chunk_sensor",
        }
        started = _graphql(port, START_SENSOR, {"selector": selector})
        assert started["data"]["startSensor"]["sensorState"]["status"] == "RUNNING", started

        store = LocalFolderStore(tmp_path / "blob")
        with psycopg.connect(database_url) as conn:
            for _ in range(2):
                cut_next_chunk(conn, LocalFileSource(files.transactions), store, "staging", 1_000)

        os.environ["TXN_DAGSTER_PG_URL"] = dagster_database
        instance = dg.DagsterInstance.from_config(str(home))
        deadline = time.monotonic() + 300
        materialised: set[str] = set()
        while time.monotonic() < deadline and materialised != {"000000", "000001"}:
            time.sleep(3)
            materialised = set(instance.get_materialized_partitions(dg.AssetKey("pattern_state")))
        assert materialised == {"000000", "000001"}, (tmp_path / "dev.log").read_text()[-3000:]
        with psycopg.connect(database_url) as conn:
            assert conn.execute("SELECT count(*) FROM txn.applied_chunk").fetchone()[0] == 2
    finally:
        stop_process_group(process)
