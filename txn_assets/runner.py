"""`txn-assets run`: the whole stream end to end, as a client of the Dagster definitions.

Mechanism X runs as its Dagster job in a child process (one chunk per interval). Mechanism Y is
the definitions' own automation: each poll evaluates `new_chunk_sensor` exactly as the daemon
would and executes the runs it requests in this process, so one SparkSession serves every chunk.
Every run and materialisation lands in the instance under HOME/dagster, where `dagster dev` (or
`txn-assets dev`) shows them later.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from txn_assets.lib import spark_warmup
from txn_assets.lib.chunks_parsed_ahead import ChunkParser, parsing_ahead
from txn_assets.lib.kept_connection import KeptConnection
from txn_assets.lib.services.processes import UNSUPERVISED, Supervisor
from txn_assets.lib.stream_signal import ChunkStagedSignal
from txn_assets.lib.stream_status import StreamStatus, read_status
from txn_assets.resources.automation import AutomationResource
from txn_assets.stack import in_process_instance

# Between ticks the automation sleeps until Mechanism X stages a chunk, at most this long.
POLL_SECONDS = 0.5
# A tick that fails (the database restarting) is tried again for this long before giving up.
TICK_PATIENCE_SECONDS = 60.0
# Mechanism X waits at most this long, once the weights are loaded, for Spark's warm-up.
WARM_UP_PATIENCE_SECONDS = 120.0
DECIDE_ONCE = AutomationResource(look_again_seconds=0)
# Progress lines are the console output of `run`; Dagster's own events go to the instance.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class StreamStoppedError(RuntimeError):
    """The stream cannot go on (a chunk keeps failing, X failed, the reference data changed)."""


# A database restart is waited out this long before the stream fails.
STATUS_PATIENCE_SECONDS = 60.0


def _producer_error(log_path: Path) -> str:
    """The one-line error Mechanism X's process printed last, if any."""
    lines = log_path.read_text(errors="replace").splitlines() if log_path.exists() else []
    found = [line for line in lines if line.startswith("txn-assets produce: ")]
    return found[-1].removeprefix("txn-assets produce: ") if found else "see its log"


def _start_producer(
    supervisor: Supervisor, interval: float, log_path: Path
) -> subprocess.Popen[bytes]:
    return supervisor.start(
        [sys.executable, "-m", "txn_assets.cli", "produce", "--interval", str(interval)],
        log=log_path,
        env=dict(os.environ),
    )


def _execute(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest) -> bool:
    """Execute a run the sensor requested, in this process; whether it succeeded."""
    job = defs.resolve_job_def(request.job_name or "mechanism_y_job")
    result = job.execute_in_process(
        instance=instance,
        tags=dict(request.tags),
        partition_key=request.partition_key,
        run_config=QUIET,
        raise_on_error=False,
    )
    return result.success


class SensorDriver:
    """Evaluates the definitions' own sensor as the daemon would, keeping its cursor."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self.defs, self.instance = defs, instance
        self.sensor = defs.resolve_sensor_def("new_chunk_sensor")
        self.cursor: str | None = None

    def tick(self) -> str | None:
        """Evaluate once and execute what it requests; its skip reason, if it skipped."""
        # Runs execute here, synchronously, and this loop waits for chunks itself: a tick decides
        # at once instead of looking again as the daemon's ticks do.
        resources = {**(self.defs.resources or {}), "automation": DECIDE_ONCE}
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources={key: resources[key] for key in self.sensor.required_resource_keys},
        )
        # The tick's reasons are the daemon's log lines; here the console shows progress
        # instead (warnings, e.g. a rejected chunk, still reach it).
        logging.disable(logging.INFO)
        try:
            result = self.sensor(context)
        finally:
            logging.disable(logging.NOTSET)
        if isinstance(result, dg.SkipReason):
            return result.skip_message or ""
        assert isinstance(result, dg.SensorResult)
        if result.cursor is not None:
            self.cursor = result.cursor
        _fulfil(self.defs, self.instance, result)
        return None


def _fulfil(defs: dg.Definitions, instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """Do what the daemon does with a tick's result: add partitions, then run the requests."""
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
    for run in result.run_requests or []:
        _execute(defs, instance, run)  # a failed run's chunks are requested again next tick


def _spark_ready(interval: float, waiting_since: float) -> bool:
    """Whether X may start as far as Spark is concerned: a paced stream waits (up to
    POLL_SECONDS per call) until this process's warm-up has ended, or gives up waiting after
    WARM_UP_PATIENCE_SECONDS; at full speed X never waits for it."""
    if interval == 0:
        return True
    patience = waiting_since + WARM_UP_PATIENCE_SECONDS - time.monotonic()
    return patience <= 0 or spark_warmup.warmed(min(POLL_SECONDS, patience))


@contextmanager
def _chunks_parsed_ahead(defs: dg.Definitions, database_url: str) -> Iterator[None]:
    """Y's runs execute in this process: a thread parses each chunk as it lands, for its run."""
    used = {key: defs.resources[key] for key in ("stores", "spark")}  # type: ignore[index]
    with dg.build_resources(used) as resources:
        stores = resources.stores
        parser = ChunkParser(
            database_url,
            stores.staging(),
            lambda: resources.spark.spark_session,
            stores.scratch() / "parsed-ahead",
            stores.spark_path,
        )
        with parsing_ahead(parser):
            yield


def run_stream(
    interval: float,
    on_status: Callable[[StreamStatus], None] = lambda status: None,
    supervisor: Supervisor = UNSUPERVISED,
    on_ready: Callable[[], None] = lambda: None,
) -> StreamStatus:
    """Run X and Y until every chunk is applied and every detection is in a file.

    `on_status` gets the stream's status whenever it changed (the console's progress);
    `on_ready` is called once Y is ready and Mechanism X starts.
    """
    from txn_assets.definitions import defs

    instance = in_process_instance()
    database_url = os.environ["TXN_DATABASE_URL"]
    status_reads = KeptConnection(database_url)
    log_path = Path(os.environ["TXN_HOME"]) / "producer.log"
    # X starts once Y can apply chunks (the weights are loaded): its one chunk per interval then
    # measures the stream, not the start-up. A paced stream also waits for Spark's warm-up, so
    # that its first chunks do not queue behind the JVM compiling Spark's code; at full speed
    # (interval 0) chunks queue anyway, and Y's first runs take them in batches meanwhile.
    producer: subprocess.Popen[bytes] | None = None
    weights_seen_at: float | None = None
    automation = SensorDriver(defs, instance)
    chunk_staged = ChunkStagedSignal(database_url)
    last_good_tick = time.monotonic()
    shown: StreamStatus | None = None
    try:
        with _chunks_parsed_ahead(defs, database_url):
            while True:
                before = status_reads.read(read_status, STATUS_PATIENCE_SECONDS)
                try:
                    skipped = automation.tick()
                except Exception:  # as the daemon does: a failed tick is tried again, for a while
                    if time.monotonic() - last_good_tick > TICK_PATIENCE_SECONDS:
                        raise
                    time.sleep(POLL_SECONDS)
                    continue
                last_good_tick = time.monotonic()
                status = status_reads.read(read_status, STATUS_PATIENCE_SECONDS)
                if status != shown:
                    on_status(status)
                    shown = status
                if status.finished:  # the tick ran Y to the end, files included
                    return status
                if producer is None and status.weights_md5 is not None:
                    weights_seen_at = weights_seen_at or time.monotonic()
                    if _spark_ready(interval, weights_seen_at):
                        on_ready()
                        producer = _start_producer(supervisor, interval, log_path)
                code = producer.poll() if producer is not None else None
                if code not in (None, 0):
                    raise StreamStoppedError(
                        f"Mechanism X stopped: {_producer_error(log_path)} (its log: {log_path})"
                    )
                # Runs execute synchronously here: chunks pending before the tick (or weights not
                # loaded) and nothing requested means the automation gave up on them (it says why).
                if skipped is not None and (before.lag > 0 or status.weights_md5 is None):
                    raise StreamStoppedError(skipped)
                chunk_staged.wait(POLL_SECONDS)
    finally:
        chunk_staged.close()
        status_reads.close()
        instance.dispose()
        if producer is not None:
            supervisor.stop(producer)


def run_checks(say: Callable[[str], None] = print) -> bool:
    """Run the stream's asset checks once; say which failed. Whether all passed."""
    from txn_assets.definitions import defs

    with in_process_instance() as instance:
        result = defs.resolve_job_def("stream_checks_job").execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=False
        )
    evaluations = result.get_asset_check_evaluations()
    for evaluation in evaluations:
        if not evaluation.passed:
            say(f"check {evaluation.check_name} failed: {evaluation.description}")
    return result.success and all(e.passed for e in evaluations)
