"""`txn-assets run`: the whole stream end to end, recorded in the Dagster instance.

Mechanism X runs as its Dagster job in a child process (one chunk per interval). Mechanism Y is
driven here by the same sensor the daemon would evaluate, and each tick's range run executes in
this process, so one SparkSession serves every chunk. Every run and materialisation lands in the
instance under HOME/dagster, where `dagster dev` (or `txn-assets dev`) shows them later.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg

from txn_assets.lib.producer import read_stream_end
from txn_assets.lib.services.ports import terminate

POLL_SECONDS = 0.5
# Progress lines are the console output of `run`; Dagster's own events go to the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


@dataclass(frozen=True)
class Progress:
    """One line of progress: how far X and Y are."""

    staged: int
    applied: int
    detections: int
    files: int
    total_chunks: int | None

    @property
    def lag(self) -> int:
        return self.staged - self.applied

    def line(self, elapsed: float) -> str:
        total = f"/{self.total_chunks}" if self.total_chunks is not None else ""
        return (
            f"[{elapsed:6.1f}s] staged {self.staged}{total} | applied {self.applied} | lag {self.lag} "
            f"| detections {self.detections} | files {self.files}"
        )


_PROGRESS = """
SELECT (SELECT count(*) FROM txn.staged_chunk), (SELECT count(*) FROM txn.applied_chunk),
       (SELECT count(*) FROM txn.detection), (SELECT count(*) FROM txn.detection_file)
"""


def _progress(database_url: str, stores: Any) -> Progress:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(_PROGRESS).fetchone()
    assert row is not None
    staged, applied, detections, files = row
    end = read_stream_end(stores.staging(), stores.staging_prefix)
    return Progress(staged, applied, detections, files, end.chunks if end else None)


def _start_producer(interval: float, log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "txn_assets.cli", "produce", "--interval", str(interval)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )


def _run_sensor_tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: str | None
) -> str | None:
    """Evaluate the real sensor once and execute what it requests; returns the new cursor."""
    from txn_assets.defs.detection.sensors import new_chunk_sensor

    resources = defs.resources or {}
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"stores": resources["stores"]}
    )
    result = new_chunk_sensor(context)
    if not isinstance(result, dg.SensorResult):
        return cursor
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
    job = defs.resolve_job_def("mechanism_y_job")
    for run in result.run_requests or []:
        outcome = job.execute_in_process(
            instance=instance, tags=dict(run.tags), run_config=QUIET, raise_on_error=True
        )
        if not outcome.success:
            raise RuntimeError(f"Mechanism Y run {outcome.run_id} failed")
    return result.cursor


def _load_reference(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    from txn_assets.defs.source.assets import customer_weights, importance_file, transactions_file

    resources = dict(defs.resources or {})
    dg.materialize(
        [customer_weights, importance_file, transactions_file],
        selection=[customer_weights],
        instance=instance,
        resources=resources,
        run_config=QUIET,
    )


def _initial_cursor(database_url: str) -> str | None:
    with psycopg.connect(database_url) as conn:
        last = conn.execute("SELECT max(chunk_index) FROM txn.applied_chunk").fetchone()[0]  # type: ignore[index]
    return None if last is None else str(last)


def run_stream(interval: float, say: Callable[[str], None] = print) -> Progress:
    """Run X and Y until every chunk is applied and every detection is in a file."""
    from txn_assets.definitions import defs
    from txn_assets.resources.postgres import PostgresResource

    instance = dg.DagsterInstance.get()
    database_url = os.environ["TXN_DATABASE_URL"]
    # Outside a run, EnvVar settings (the storage key) must be resolved explicitly.
    stores = (defs.resources or {})["stores"].process_config_and_initialize()
    with PostgresResource(url=database_url).connect():
        pass  # migrates the schema before the producer and the sensor look at it
    started = time.monotonic()
    say("loading CustomerImportance (weights) ...")
    _load_reference(defs, instance)
    producer = _start_producer(interval, Path(os.environ["TXN_HOME"]) / "producer.log")
    cursor = _initial_cursor(database_url)
    shown: Progress | None = None
    try:
        while True:
            cursor = _run_sensor_tick(defs, instance, cursor)
            progress = _progress(database_url, stores)
            if progress != shown:
                say(progress.line(time.monotonic() - started))
                shown = progress
            code = producer.poll()
            if code not in (None, 0):
                raise RuntimeError(
                    f"Mechanism X stopped with exit code {code}; see {Path(os.environ['TXN_HOME']) / 'producer.log'}"
                )
            # The tick ran its Mechanism Y runs to the end, files included: this is final.
            if (
                code == 0
                and progress.total_chunks is not None
                and progress.applied >= progress.total_chunks
            ):
                return progress
            time.sleep(POLL_SECONDS)
    finally:
        terminate(producer)
