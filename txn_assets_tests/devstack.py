"""`txn-assets dev` and `txn-assets run` as a user starts them, for the end-to-end tests.

Each stack is the real command in its own process group, on a free loopback port, with its own
home (embedded PostgreSQL, local store, Spark Connect); the tests talk to it over the UI's
GraphQL API and read the outcome from the home's database and store.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from txn_assets.dagster_ui import DagsterUI, wait_for_dev_ui
from txn_assets.lib.generate import GeneratedFiles
from txn_assets.stack import PROJECT_ROOT, home_database_url

# Scaled to a 12,000-row stream in 1,000-row chunks, so that every pattern fires.
E2E_RULES = {
    "upgrade_min_merchant_txns": 3_000,
    "child_min_txns": 5,
    "dei_min_female_customers": 10,
}
E2E_CHUNK_ROWS = 1_000


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """`txn-assets ARGS` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "txn_assets.cli", *args],
        env={**os.environ, **(env or {})},
        cwd=PROJECT_ROOT,
        text=True,
        capture_output=True,
        timeout=timeout,
    )


def source_args(files: GeneratedFiles) -> list[str]:
    return [
        "--transactions",
        str(files.transactions),
        "--importance",
        str(files.importance),
        "--chunk-rows",
        str(E2E_CHUNK_ROWS),
    ]


def stream_env() -> dict[str, str]:
    """The settings every end-to-end stream shares (scaled rules, no given database)."""
    env = {"TXN_RULES": json.dumps(E2E_RULES)}
    return env


def detection_rows(store_root: Path) -> list[tuple[str, ...]]:
    """Every detection in the local store's files, in file order, without the timestamps."""
    rows: list[tuple[str, ...]] = []
    for path in sorted((store_root / "detections").glob("detections-*.csv")):
        rows.extend(tuple(r[2:]) for r in list(csv.reader(io.StringIO(path.read_text())))[1:])
    return rows


def state_snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The state tables that a rerun must leave unchanged."""
    tables = {
        "merchant_customer": "SELECT * FROM txn.merchant_customer ORDER BY 1, 2",
        "merchant": "SELECT * FROM txn.merchant ORDER BY 1",
        "applied_chunk": "SELECT * FROM txn.applied_chunk ORDER BY 1",
        "detection": "SELECT * FROM txn.detection ORDER BY 1",
        "detection_file": "SELECT file_number, path, first_seq, last_seq, rows, md5 FROM txn.detection_file ORDER BY 1",
        "quarantine": "SELECT * FROM txn.quarantine ORDER BY 1",
    }
    with psycopg.connect(database_url) as conn:
        return {name: conn.execute(sql).fetchall() for name, sql in tables.items()}  # type: ignore[arg-type]


@dataclass
class DevStack:
    """A running `txn-assets dev`: its home, its UI and its process."""

    home: Path
    process: subprocess.Popen[bytes]
    ui: DagsterUI
    log: Path

    @property
    def database_url(self) -> str:
        return home_database_url(self.home)

    def status(self) -> tuple[int, int, int | None]:
        """(staged, applied, total chunks once known) from the home's state database."""
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM txn.staged_chunk), (SELECT count(*) FROM txn.applied_chunk), "
                "(SELECT CASE WHEN ended THEN next_chunk END FROM txn.producer)"
            ).fetchone()
        assert row is not None
        return row[0], row[1], row[2]

    def finished(self) -> bool:
        _, applied, total = self.status()
        return total is not None and applied == total

    def quiet(self) -> bool:
        """No run of the stream is queued or in progress."""
        busy = {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"}
        return not any(
            r.status in busy for r in self.ui.runs() if r.job_name != "stream_checks_job"
        )

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _logs_tail(console: Path, chars: int = 4000) -> str:
    """The console's and dagster dev's last lines: what a failed start-up left."""
    dagster_log = console.parent / "logs" / "dagster-dev.log"
    parts = [console.read_text(errors="replace")[-chars:]]
    if dagster_log.exists():
        parts.append(f"--- {dagster_log}:\n" + dagster_log.read_text(errors="replace")[-chars:])
    return "\n".join(parts)


@contextmanager
def dev_stack(home: Path, files: GeneratedFiles, *extra: str) -> Iterator[DevStack]:
    """`txn-assets dev` on a free port for the duration of the block, stopped as Ctrl-C would."""
    home.mkdir(parents=True, exist_ok=True)
    log = home / "dev-console.log"
    env = {**os.environ, **stream_env()}
    env.pop("DATABASE_URL", None)  # the dev stack starts its own PostgreSQL, as for a user
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "txn_assets.cli",
            "dev",
            "--home",
            str(home),
            "--port",
            "0",
            *source_args(files),
            *extra,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        try:
            port = wait_for_dev_ui(process, log, timeout_s=240)
        except (RuntimeError, TimeoutError) as err:
            raise type(err)(f"{err}:\n{_logs_tail(log)}") from None
        yield DevStack(home, process, DagsterUI(port), log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)
