"""The sensor path measured end to end: `txn-assets dev` driven as a user drives the UI.

The daemon's sensor requests the runs, the run queue launches them, each run is a fresh Python
process talking to the Spark Connect server. The benchmark turns the sensor on and launches
Mechanism X over the UI's GraphQL API, samples the memory of the whole process tree, and reads
each chunk's timeline from the state database once the stream is filed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from txn_assets.bench.stream_runs import PathRun, timeline, tree_rss
from txn_assets.dagster_ui import DagsterUI, wait_for_dev_ui
from txn_assets.stack import home_database_url

FILED = """
SELECT p.ended AND p.next_chunk = (SELECT count(*) FROM txn.applied_chunk)
       AND (SELECT coalesce(sum(rows), 0) FROM txn.detection_file)
           = (SELECT count(*) FROM txn.detection)
FROM txn.producer p
"""


def _filed(home: Path) -> bool:
    """Every chunk of the source applied and every detection in a file."""
    try:
        with psycopg.connect(home_database_url(home), connect_timeout=5) as conn:
            row = conn.execute(FILED).fetchone()
    except (psycopg.Error, RuntimeError):
        return False
    return bool(row and row[0])


def run_sensor_path(
    home: Path, transactions: Path, importance: Path, interval: float = 1.0
) -> tuple[PathRun, dict[str, Any]]:
    """Run the stream through `txn-assets dev`'s daemon on a fresh home and measure it.

    Also returns the run figures the UI shows: the weights run and the Y runs' durations.
    """
    command = [
        sys.executable, "-m", "txn_assets.cli", "dev", "--home", str(home), "--port", "0",
        "--transactions", str(transactions), "--importance", str(importance),
    ]  # fmt: skip
    home.mkdir(parents=True, exist_ok=True)
    log = home.parent / "sensor-path.log"
    started_at = datetime.now(UTC)
    started = time.monotonic()
    peak = 0.0
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    with log.open("wb") as out:
        child = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
        watched = psutil.Process(child.pid)
        try:
            ui = DagsterUI(wait_for_dev_ui(child, log, timeout_s=600))
            ui.start_sensor()
            # X starts once the sensor's weights run has loaded CustomerImportance, as `run`
            # does: the latency then measures keeping up, not the start-up (reported apart).
            ui.wait_for("the weights run", lambda: _weights_loaded(ui), 600)
            x_config = {"ops": {"produce_chunks": {"config": {"interval_seconds": interval}}}}
            ui.launch_job("mechanism_x_job", x_config)
            deadline = time.monotonic() + 1800
            while not _filed(home):
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError(f"the sensor path did not finish; see {log}")
                peak = max(peak, tree_rss(watched))
                time.sleep(0.5)
            wall = time.monotonic() - started
            runs = _run_figures(ui)
        finally:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)  # as Ctrl-C: dev stops what it started
                try:
                    child.wait(120)
                except subprocess.TimeoutExpired:  # SIGINT ignored: started from `cmd &`
                    child.terminate()
                    child.wait(120)
    startup, chunks = timeline(home, started_at)
    return PathRun("sensor", command[2:], wall, startup, peak, chunks), runs


def _weights_loaded(ui: DagsterUI) -> bool:
    runs = ui.runs("customer_weights_job")
    if any(r.status == "FAILURE" for r in runs):
        raise RuntimeError("the weights run failed")
    return any(r.status == "SUCCESS" for r in runs)


def _run_figures(ui: DagsterUI) -> dict[str, Any]:
    def seconds(job: str) -> list[float]:
        return [
            r.end_time - r.start_time
            for r in ui.runs(job)
            if r.status == "SUCCESS" and r.start_time and r.end_time
        ]

    weights, y_runs = seconds("customer_weights_job"), sorted(seconds("mechanism_y_job"))
    return {
        "weights_run_s": round(weights[0], 2) if weights else None,
        "y_runs": len(y_runs),
        "y_run_median_s": round(y_runs[len(y_runs) // 2], 2) if y_runs else None,
    }
