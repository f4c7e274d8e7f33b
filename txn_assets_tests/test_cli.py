"""`txn-assets generate` and `txn-assets run` as a user runs them (`make run` is the latter)."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import psycopg
import pytest

from txn_assets.bench.stream_runs import seconds_said
from txn_assets.console import DONE_PREFIX, READY_PREFIX
from txn_assets.stack import database_url_for


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "txn_assets.cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
    )


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
    # Said once, when X starts; `make bench` reads its start-up from it.
    assert first.stdout.count(READY_PREFIX) == 1
    ready = seconds_said(first.stdout, READY_PREFIX)
    # ... and its summary's time, after it (`make bench`'s command-to-summary figure).
    assert 0 < ready < seconds_said(first.stdout, DONE_PREFIX) < 300
    assert "checks: all passed" in first.stdout
    assert (
        f"report: {(tmp_path / 'home').resolve() / 'report' / 'stream-report.html'}" in first.stdout
    )
    # Dependencies' warnings (Dagster's beta notices, platformdirs') go to the log, not the console.
    assert "Warning:" not in first.stderr, first.stderr[-3000:]
    # Only our own output: no JVM launcher line, no Dagster log lines, no Spark start-up chatter.
    console = first.stdout + first.stderr
    for not_ours in (
        "WARNING: Using incubator modules",
        " - dagster - ",
        "log4j",
        "NativeCodeLoader",
    ):
        assert not_ours not in console, not_ours
    assert "incubator modules" in (tmp_path / "home/logs/spark.log").read_text()
    assert "BetaWarning" in (tmp_path / "home/logs/txn-assets.log").read_text()
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
        "stream_report_job",
    }

    again = _cli(*args, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 chunks applied" in again.stdout
    with psycopg.connect(database_url_for(fresh_server_databases, "txn")) as conn:
        assert conn.execute("SELECT count(*) FROM txn.applied_chunk").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM txn.staged_chunk").fetchone()[0] == 3


@pytest.mark.slow
def test_a_failure_is_one_clear_line_and_verbose_shows_the_traceback(
    fresh_server_databases, tmp_path
):
    env = {**os.environ, "DATABASE_URL": fresh_server_databases}
    source = tmp_path / "src"
    generated = _cli("generate", "--rows", "2000", "--out", str(source), env=env)
    assert generated.returncode == 0, generated.stderr
    transactions = source / "transactions.csv"
    lines = transactions.read_text().splitlines(keepends=True)
    transactions.write_text(lines[0].replace("amount", "value") + "".join(lines[1:]))
    args = ["run", "--home", str(tmp_path / "home"), "--transactions", str(transactions)]
    args += ["--importance", str(source / "CustomerImportance.csv"), "--interval", "0"]

    failed = _cli(*args, env=env)
    assert failed.returncode == 1, failed.stderr[-4000:]
    (line,) = [line for line in failed.stderr.splitlines() if line.startswith("txn-assets run:")]
    assert "Mechanism X stopped" in line
    assert "transactions.csv: the header has no column 'amount'" in line
    assert f"full log: {tmp_path / 'home' / 'logs' / 'txn-assets.log'}" in line
    assert "Traceback" not in failed.stderr
    assert "Traceback" in (tmp_path / "home" / "logs" / "txn-assets.log").read_text()

    # --verbose shows the traceback instead (a failure that comes at once: no stream to run).
    unreachable = ["migrate", "--database-url", "postgresql://127.0.0.1:1/none?connect_timeout=2"]
    quiet = _cli(*unreachable, env=env)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr, quiet.stderr
    verbose = _cli("--verbose", *unreachable, env=env)
    assert verbose.returncode == 1 and "Traceback (most recent call last)" in verbose.stderr


def test_report_writes_the_homes_report_and_prints_its_path(
    fresh_server_databases, spark, tmp_path
):
    from txn_assets.lib.checksums import md5_file
    from txn_assets.lib.rules import DetectionRules
    from txn_assets.lib.state.engine import apply_chunk, load_weights
    from txn_assets.lib.state.migrate import migrate
    from txn_assets_tests.builders import txns, write_chunk, write_importance
    from txn_assets_tests.report_html import detection_rows, external_references, images

    home = tmp_path / "home"
    refused = _cli("report", "--home", str(home), env={**os.environ, "DATABASE_URL": ""})
    assert refused.returncode == 1 and "holds no stream yet" in refused.stderr

    # A stream with CHILD detections in the server's txn database, which `report` then reads.
    url = database_url_for(fresh_server_databases, "txn")
    with psycopg.connect(fresh_server_databases, autocommit=True) as admin:
        admin.execute("CREATE DATABASE txn")
    migrate(url)
    with psycopg.connect(url) as conn:
        importance = write_importance(tmp_path / "imp.csv", [("X", "Y", "1")])
        load_weights(conn, lambda: spark, str(importance), md5_file(importance))
        for chunk in range(2):
            rows = [t for c in range(3) for t in txns(f"C{chunk}{c}", "M1", 80, "1.00")]
            path = write_chunk(tmp_path / f"chunk-{chunk}.csv", rows)
            apply_chunk(conn, spark, chunk, str(path), md5_file(path), DetectionRules())
        stored = conn.execute("SELECT count(*) FROM txn.detection").fetchone()[0]

    env = {**os.environ, "DATABASE_URL": fresh_server_databases}
    written = _cli("report", "--home", str(home), env=env)
    assert written.returncode == 0, written.stderr[-3000:]
    report = home.resolve() / "report" / "stream-report.html"
    assert written.stdout.strip() == f"report: {report}"
    text = report.read_text(encoding="utf-8")
    assert len(detection_rows(text)) == stored == 6
    assert len(images(text)) == 4 and external_references(text) == []

    elsewhere = _cli("report", "--home", str(home), "--out", str(tmp_path / "r.html"), env=env)
    assert elsewhere.stdout.strip() == f"report: {tmp_path / 'r.html'}"
