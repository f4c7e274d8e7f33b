"""Chunks parsed as they land: under `txn-assets run`, Spark parses a chunk while Y still merges
the one before.

At one chunk per second a Y run's chunk costs Spark ~0.4 s and PostgreSQL ~0.2 s, one after
the other, and a run starts only once the one before has ended. `run` executes every Y run in
its own process, so a thread of that process can listen for X's staged-chunk signal and parse
each new chunk at once, keeping the summary under the chunk's index and md5; the run of that
chunk then takes it (waiting for a parse under way) instead of parsing. Parsing reads no state,
so a summary is as good as the run's own parse of the same bytes in the same layout; anything
else (another md5, another layout, a chunk never parsed ahead) is parsed by the run as always.

Only while Y keeps up: when chunks queue up (more than `MAX_AHEAD` unapplied), a run's own
batches (one Spark action for up to ten chunks, the next parsed while this one merges) are
cheaper than parsing chunk by chunk here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
from pyspark.sql import SparkSession

from txn_assets.lib.csv_header import CsvLayout
from txn_assets.lib.spark_session import quick_thread_handoffs
from txn_assets.lib.staged_inputs import spark_inputs, staged_records, stream_layout
from txn_assets.lib.state import engine
from txn_assets.lib.state.engine import ChunkInput, ParsedBatch
from txn_assets.lib.stores.base import ObjectStore
from txn_assets.lib.stream_signal import ChunkStagedSignal

# Chunks are parsed ahead only while at most this many staged chunks are unapplied.
MAX_AHEAD = 3
# A run waits at most this long for a parse under way, then parses the chunk itself.
TAKE_TIMEOUT_SECONDS = 60.0
# The thread looks at X's ledger at least this often, signal or not.
LOOK_SECONDS = 0.5


@dataclass(frozen=True)
class _Parse:
    md5: str
    name: str  # the file name the summary is kept under
    layout: CsvLayout
    batch: Future[ParsedBatch]


class ChunkParser:
    """A thread that parses each staged chunk as it lands, for the run that will apply it."""

    def __init__(
        self,
        database_url: str,
        staging: ObjectStore,
        spark: Callable[[], SparkSession],
        scratch: Path,
        spark_path: Callable[[str], str | None] = lambda key: None,
    ) -> None:
        self.database_url, self.staging, self.spark = database_url, staging, spark
        self.scratch, self.spark_path = scratch, spark_path
        self._parses: dict[int, _Parse] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._parsed_through = -1  # chunks the thread has taken on
        self._asked_through = -1  # chunks runs have asked for
        self.looks = 0  # how often the thread has looked at X's ledger
        self._thread = threading.Thread(target=self._loop, name="chunks-parsed-ahead", daemon=True)

    def start(self) -> None:
        quick_thread_handoffs()  # its Spark calls run beside the runs' Python
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=TAKE_TIMEOUT_SECONDS)
        if self._thread.is_alive():
            logging.getLogger(__name__).warning("a parse ahead is still running as run stops")

    def waiting(self) -> list[int]:
        """The chunks parsed (or being parsed) ahead that no run has taken yet."""
        with self._lock:
            return sorted(self._parses)

    def take(self, inputs: Sequence[ChunkInput], layout: CsvLayout) -> ParsedBatch | None:
        """The parse of these chunks, if each readable one was parsed ahead from the same bytes
        in this layout (waiting for parses under way); None: the caller parses them."""
        readable = [c for c in inputs if c.problem is None]
        with self._lock:
            found = [self._parses.pop(c.index, None) for c in readable]
            # Taken or not, these chunks are the run's now: never parsed ahead after this.
            self._asked_through = max([self._asked_through, *(c.index for c in inputs)])
        if not readable or any(
            p is None
            or p.md5 != c.content_md5
            or p.layout != layout
            or p.name != PurePosixPath(c.path).name
            for p, c in zip(found, readable, strict=True)
        ):
            return None
        summaries, seconds = {}, 0.0
        deadline = time.monotonic() + TAKE_TIMEOUT_SECONDS
        for parse in found:
            assert parse is not None
            try:
                batch = parse.batch.result(timeout=max(0.0, deadline - time.monotonic()))
            except Exception:  # the run parses the chunks itself and reports what goes wrong
                logging.getLogger(__name__).debug("a parse ahead is not taken", exc_info=True)
                return None
            summaries[parse.name] = batch.summaries[parse.name]
            seconds += batch.share
        return ParsedBatch(summaries, seconds, len(inputs))

    def _loop(self) -> None:
        signal = ChunkStagedSignal(self.database_url)
        conn: psycopg.Connection[Any] | None = None
        try:
            while not self._stopped.is_set():
                try:
                    if conn is None or conn.closed:
                        conn = psycopg.connect(self.database_url, connect_timeout=5)
                    self._parse_new_chunks(conn)
                except psycopg.OperationalError:  # the database restarts: look again later
                    if conn is not None:
                        conn.close()
                except Exception:  # the runs parse what was not parsed ahead
                    logging.getLogger(__name__).warning("parsing ahead failed", exc_info=True)
                    if conn is not None:  # a failed statement leaves its transaction aborted
                        conn.close()
                signal.wait(LOOK_SECONDS)
        finally:
            signal.close()
            if conn is not None:
                conn.close()

    def _parse_new_chunks(self, conn: psycopg.Connection[Any]) -> None:
        self.looks += 1
        first_unapplied = engine.next_chunk(conn)
        layout = stream_layout(conn)
        staged = staged_records(conn, first_unapplied + MAX_AHEAD)
        if first_unapplied + MAX_AHEAD in staged:  # Y is behind: its runs parse in batches
            return
        with self._lock:  # parses of applied chunks that no run took are not needed any more
            for index in [i for i in self._parses if i < first_unapplied]:
                del self._parses[index]
            new = [
                record
                for index, record in sorted(staged.items())
                if index >= first_unapplied
                and index > max(self._parsed_through, self._asked_through)
            ]
            if not new:
                return
            self._parsed_through = new[-1].index
        with spark_inputs(self.staging, new, self.scratch, self.spark_path) as inputs:
            readable = [c for c in inputs if c.problem is None]
            if not readable:
                return
            batch: Future[ParsedBatch] = Future()
            with self._lock:  # a run may have asked for some of them since they were chosen
                readable = [c for c in readable if c.index > self._asked_through]
                for chunk in readable:
                    name = PurePosixPath(chunk.path).name
                    self._parses[chunk.index] = _Parse(chunk.content_md5, name, layout, batch)
            if not readable:
                return
            try:
                batch.set_result(engine.parse_batch(self.spark(), readable, layout))
            except Exception as error:
                batch.set_exception(error)
                raise


_active: ChunkParser | None = None


@contextmanager
def parsing_ahead(parser: ChunkParser) -> Iterator[ChunkParser]:
    """Parse chunks as they land while the block runs; runs of this process take the parses."""
    global _active
    parser.start()
    _active = parser
    try:
        yield parser
    finally:
        _active = None
        parser.stop()


def take(inputs: Sequence[ChunkInput], layout: CsvLayout) -> ParsedBatch | None:
    """The parse of these chunks done ahead in this process, if any (`ChunkParser.take`)."""
    parser = _active
    return parser.take(inputs, layout) if parser is not None else None
