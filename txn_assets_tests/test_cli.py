"""`txn-assets generate` and `txn-assets run` as a user runs them (`make run` is the latter)."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from txn_assets.stack import database_url_for


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "txn_assets.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


@pytest.fixture
def fresh_server_databases(postgres_admin_url):
    """`run` creates databases txn and dagster on the server it is given; start without them."""
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        for name in ("txn", "dagster"):
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    yield postgres_admin_url


@pytest.mark.slow
def test_run_streams_to_the_end_records_dagster_history_and_resumes(
    fresh_server_databases, tmp_path, monkeypatch
):
    env = {**os.environ, "DATABASE_URL": fresh_server_databases}
    generated = _cli(
        "generate", "--rows", "3000", "--seed", "8", "--out", str(tmp_path / "src"), env=env
    )
    assert generated.returncode == 0, generated.stderr
    args = [
        "run",
        "--home",
        str(tmp_path / "home"),
        "--transactions",
        str(tmp_path / "src/transactions.csv"),
        "--importance",
        str(tmp_path / "src/CustomerImportance.csv"),
        "--chunk-rows",
        "1000",
        "--interval",
        "0",
    ]

    first = _cli(*args, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "3 chunks applied" in first.stdout
    assert f"detection files: {tmp_path / 'home' / 'blob' / 'detections'}" in first.stdout
    assert "staged 3/3 | applied 3 | lag 0" in first.stdout
    assert "checks: all passed" in first.stdout
    staged = sorted(p.name for p in (tmp_path / "home/blob/staging").iterdir())
    assert staged == [
        "_stream_end.json",
        "chunk-000000.csv",
        "chunk-000001.csv",
        "chunk-000002.csv",
    ]

    monkeypatch.setenv(
        "TXN_DAGSTER_PG_URL",
        database_url_for(fresh_server_databases, "dagster", "postgresql+psycopg2"),
    )
    instance = dg.DagsterInstance.from_config(str(tmp_path / "home/dagster"))
    assert instance.get_materialized_partitions(dg.AssetKey("pattern_state")) == {
        "000000",
        "000001",
        "000002",
    }
    assert {r.job_name for r in instance.get_runs()} == {
        "mechanism_x_job",
        "customer_weights_job",
        "mechanism_y_job",
        "stream_checks_job",
    }

    again = _cli(*args, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 chunks applied" in again.stdout
    with psycopg.connect(database_url_for(fresh_server_databases, "txn")) as conn:
        assert conn.execute("SELECT count(*) FROM txn.applied_chunk").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM txn.staged_chunk").fetchone()[0] == 3
