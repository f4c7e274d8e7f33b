"""Warm a new Spark session on tiny files, so that the first real chunk does not pay for it.

The first action of a session loads the classes of the text source, the parser's expressions
and the aggregation, and compiles their generated code; Spark caches compiled code by its
source, so later batches of the same plan reuse it. Done in the background while PostgreSQL
starts and the reference data is read, it takes seconds off the first chunk's latency.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from pyspark.sql import SparkSession

from txn_assets.lib import settings, spark_parsing
from txn_assets.lib.csv_header import importance_layout, transactions_layout
from txn_assets.lib.generate import IMPORTANCE_HEADER, TRANSACTIONS_HEADER

_TRANSACTION_ROWS = (
    "0,'C1','4','F','28007','M1','28007','es_food',12.5,0",
    "0,'C2','2','M','28007','M1','28007','es_food',not-a-number,0",
    "",
)
_IMPORTANCE_ROWS = ("'C1','M1',0.5,'es_food',0", "'C2','M1',-1,'es_food',0")
# The warm-ups this process started (`run` waits for them before it starts Mechanism X), the
# sessions they run on, and the request that they end (the process is about to exit).
_started: list[threading.Thread] = []
_sessions: list[SparkSession] = []
_stop_requested = threading.Event()
# The tag of the warm-up's Spark operations, by which an exit interrupts them.
WARM_UP_TAG = "txn-assets-warm-up"
# How long an exit waits for the warm-ups to end, interrupting their work this often meanwhile.
STOP_PATIENCE_SECONDS = 30.0
INTERRUPT_EVERY_SECONDS = 0.5
# A stream's warm-up: after the chunk plan's first action (its code compiled), two chunks of
# full size let the JVM compile the plan's hot paths before the first real chunk lands. The
# reference file is read with Arrow (`importance_parsing`), so its plan is not warmed.
STREAM_FULL_SIZE_CHUNKS = 2


def _parse_chunk(spark: SparkSession, chunk: Path) -> spark_parsing.FileSummary:
    """As Mechanism Y parses a chunk: by one task, its size known."""
    layout = transactions_layout(TRANSACTIONS_HEADER)
    size = chunk.stat().st_size
    return spark_parsing.collect_summaries(spark, [str(chunk)], layout, "transactions", size)[
        chunk.name
    ]


def full_size_rows(count: int = settings.CHUNK_ROWS) -> list[str]:
    """`count` valid transaction rows, ~0.6 pairs per row (6,130 pairs in a 10,000-row chunk),
    as a real chunk has (~6,200)."""
    genders = "FMEU"
    return [
        f"{i // 1000},'C{i % 613}','{i % 7}','{genders[i % 4]}','28007','M{i % 10}','28007',"
        f"'es_food',{i % 500}.{i % 100:02d},0"
        for i in range(count)
    ]


def warm_up(
    spark: SparkSession,
    scratch: Path,
    full_size_chunks: int = 0,
    reference: bool = True,
    stop: threading.Event | None = None,
) -> list[spark_parsing.FileSummary]:
    """Run the chunk plan on a few lines of every kind, then on `full_size_chunks` generated
    chunks of full size; with `reference`, the reference-file plan once on a few lines.
    Once `stop` is set, the actions not yet started are skipped."""
    scratch.mkdir(parents=True, exist_ok=True)
    chunk = scratch / "warm-up-chunk.csv"
    chunk.write_text("\n".join((TRANSACTIONS_HEADER, *_TRANSACTION_ROWS)) + "\n")
    stopped = stop if stop is not None else threading.Event()  # never set
    found = [_parse_chunk(spark, chunk)]
    if full_size_chunks:
        full = scratch / "warm-up-full-size-chunk.csv"
        full.write_text("\n".join((TRANSACTIONS_HEADER, *full_size_rows())) + "\n")
        for _ in range(full_size_chunks):
            if stopped.is_set():
                return found
            found.append(_parse_chunk(spark, full))
    if reference and not stopped.is_set():
        weights = scratch / "warm-up-importance.csv"
        weights.write_text("\n".join((IMPORTANCE_HEADER, *_IMPORTANCE_ROWS)) + "\n")
        layout = importance_layout(IMPORTANCE_HEADER)
        found.append(
            spark_parsing.collect_summaries(spark, [str(weights)], layout, "importance")[
                weights.name
            ]
        )
    return found


def _is_connect(spark: SparkSession) -> bool:
    """A Spark Connect session has no SparkContext: its work is tagged and interrupted apart."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


@contextlib.contextmanager
def _tagged(spark: SparkSession) -> Iterator[None]:
    """Tag the operations this thread starts, so that an exit can interrupt them alone.

    A classic session's own tags (`addTag`) are not found by `interruptTag` from another thread
    (PySpark 4.3), its context's job tags are; a Spark Connect session has only the former.
    """
    if _is_connect(spark):
        add, remove = spark.addTag, spark.removeTag
    else:
        add, remove = spark.sparkContext.addJobTag, spark.sparkContext.removeJobTag
    add(WARM_UP_TAG)
    try:
        yield
    finally:
        remove(WARM_UP_TAG)


def start_in_background(
    config: dict[str, str], scratch_root: Path | None = None, full_size_chunks: int | None = None
) -> threading.Thread:
    """Start this process's session with `config` and warm it, on a daemon thread.

    Whoever asks for the session later (dagster-pyspark's resource) gets the same one from
    `getOrCreate`, waiting for the start-up already under way instead of starting another.
    The warm-up's files live in a temporary folder under `scratch_root` (the home's scratch
    folder, cleared when a command next starts on the home): a process killed mid warm-up
    leaves them there, not in the machine's /tmp. `full_size_chunks`: generated chunks of full
    size parsed after the tiny one (default STREAM_FULL_SIZE_CHUNKS).
    """
    full_size = STREAM_FULL_SIZE_CHUNKS if full_size_chunks is None else full_size_chunks
    if scratch_root is not None:
        scratch_root.mkdir(parents=True, exist_ok=True)

    def start() -> None:
        from txn_assets.lib.spark_session import session_from_config

        try:
            with tempfile.TemporaryDirectory(prefix="txn-warm-up-", dir=scratch_root) as scratch:
                spark = session_from_config(config)
                _sessions.append(spark)
                if _stop_requested.is_set():
                    return
                with _tagged(spark):
                    warm_up(
                        spark,
                        Path(scratch),
                        full_size_chunks=full_size,
                        reference=False,
                        stop=_stop_requested,
                    )
        except Exception:  # the resource starts the session again and reports the failure
            if _stop_requested.is_set():
                logging.getLogger(__name__).info("Spark warm-up interrupted: the process exits")
            else:
                logging.getLogger(__name__).warning("Spark warm-up failed", exc_info=True)

    from txn_assets.lib.spark_session import quick_thread_handoffs

    quick_thread_handoffs()  # the warm-up's Spark calls run beside the imports and the stack
    thread = threading.Thread(target=start, name="spark-warm-up", daemon=True)
    thread.start()
    _started.append(thread)
    return thread


def warmed(timeout: float) -> bool:
    """Whether every warm-up this process started has ended, waiting up to `timeout` seconds."""
    deadline = time.monotonic() + timeout
    for thread in _started:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(thread.is_alive() for thread in _started)


def _interrupt_tagged_work() -> None:
    for spark in _sessions:
        with contextlib.suppress(Exception):  # a session already stopped has nothing running
            if _is_connect(spark):
                spark.interruptTag(WARM_UP_TAG)
            else:
                spark.sparkContext.cancelJobsWithTag(WARM_UP_TAG)


def stop_warm_ups(timeout: float = STOP_PATIENCE_SECONDS) -> bool:
    """End this process's warm-ups before it exits; whether they all ended within `timeout`.

    A warm-up thread still inside a Spark action when the interpreter finalizes can abort the
    process (SIGABRT instead of its exit code: the action's result is read by Arrow from a
    Python socket, and the thread cannot take the interpreter back while it shuts down). So the
    warm-ups skip their remaining actions and their running one is interrupted, again every
    `INTERRUPT_EVERY_SECONDS` while they are waited for: an interrupt reaches only work already
    submitted, and an action may still be planning. A session still starting cannot be
    interrupted; the wait covers it. Meant for the end of a process; once they have ended, a new
    warm-up runs in full again.
    """
    if not any(thread.is_alive() for thread in _started):
        return True
    _stop_requested.set()
    deadline = time.monotonic() + timeout
    while True:
        _interrupt_tagged_work()
        if warmed(min(INTERRUPT_EVERY_SECONDS, max(0.0, deadline - time.monotonic()))):
            _stop_requested.clear()
            return True
        if time.monotonic() >= deadline:
            logging.getLogger(__name__).warning(
                "a Spark warm-up still runs after %.0f s: the process may abort as it exits",
                timeout,
            )
            return False
