"""Mechanism Y's core: apply staged chunks through the last one asked for, in order.

A Dagster run (sensor range, backfill, rerun of one partition) asks for some chunks. What it
does is decided from the ledgers before any Spark work: chunks already applied are reported from
`txn.applied_chunk`; staged chunks before the first one asked for that are not applied yet (a
failed run left them behind) are applied first, since chunks apply in order and only one run
applies at a time. Nothing is skipped and nothing waits for another run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from pyspark.sql import SparkSession

from txn_assets.lib import chunks_parsed_ahead, settings
from txn_assets.lib.csv_header import CsvLayout
from txn_assets.lib.producer import ChunkNotStagedError
from txn_assets.lib.rules import DetectionRules
from txn_assets.lib.spark_session import quick_thread_handoffs
from txn_assets.lib.staged_inputs import StagedRecord, spark_inputs, staged_records, stream_layout
from txn_assets.lib.state import engine
from txn_assets.lib.state.engine import ChunkInput, ChunkResult
from txn_assets.lib.stores.base import ObjectStore


@dataclass(frozen=True)
class RangeResult:
    """Every chunk a run applied or found applied, in chunk order."""

    results: list[ChunkResult]
    requested: list[int]

    @property
    def earlier(self) -> list[ChunkResult]:
        """Chunks before the requested ones that this run applied (left behind by a failed run)."""
        asked = set(self.requested)
        return [r for r in self.results if r.chunk_index not in asked]

    @property
    def spark_needed(self) -> bool:
        """Whether anything was actually applied (an all-no-op run never starts Spark)."""
        return any(not r.already_applied for r in self.results)


@dataclass
class _Batch:
    """A batch whose parse is under way: its inputs, the parse, and its local copies."""

    inputs: list[ChunkInput]
    parsing: Future[engine.ParsedBatch]
    copies: ExitStack


def _take_or_parse(
    spark: Callable[[], SparkSession], inputs: list[ChunkInput], layout: CsvLayout
) -> engine.ParsedBatch:
    """The batch's parses taken from `run`'s parse ahead, else one Spark action over it (a
    session is asked for only then, and only if a chunk is readable)."""
    taken = chunks_parsed_ahead.take(inputs, layout)
    if taken is not None:
        return taken
    session = spark() if any(i.problem is None for i in inputs) else None
    return engine.parse_batch(session, inputs, layout)


def apply_staged_range(
    conn: psycopg.Connection[Any],
    staging: ObjectStore,
    requested: Sequence[int],
    spark: Callable[[], SparkSession],
    rules: DetectionRules,
    scratch: Path,
    spark_path: Callable[[str], str | None] = lambda key: None,
    importance_md5: str | None = None,
    chunks_per_action: int = settings.CHUNKS_PER_SPARK_ACTION,
    reapply_rejected: bool = False,
) -> RangeResult:
    """Apply every staged, unapplied chunk through max(requested), in order; report the rest.

    `spark` is only called when something is left to apply, so a rerun or a backfill of
    applied chunks costs a few queries and no Spark session. With reapply_rejected, requested
    chunks that were rejected are applied late (once re-staged), instead of being reported.
    """
    if not requested:
        raise ValueError("no chunks requested")
    last = max(requested)
    staged = staged_records(conn, last)
    missing = sorted(set(requested) - staged.keys())
    if missing:
        raise ChunkNotStagedError(
            f"chunks {missing} have not been staged yet: Mechanism X (mechanism_x_job) stages them"
        )
    first_unapplied = engine.next_chunk(conn)
    conn.commit()
    results: list[ChunkResult] = []
    for index in sorted(i for i in set(requested) if i < first_unapplied):
        done = engine.recorded_result(conn, index, staged[index].md5)
        conn.commit()
        if done is None:
            raise AssertionError(
                f"chunk {index} is before the first unapplied chunk but unrecorded"
            )
        if done.rejected and reapply_rejected:
            with spark_inputs(staging, [staged[index]], scratch, spark_path) as (chunk,):
                done = engine.reapply_rejected(
                    conn, spark(), chunk, rules, layout=stream_layout(conn)
                )
        results.append(done)
    todo = [staged[i] for i in range(first_unapplied, last + 1) if i in staged]
    if len(todo) != max(0, last + 1 - first_unapplied):
        gap = sorted(set(range(first_unapplied, last + 1)) - staged.keys())
        raise ChunkNotStagedError(f"chunks {gap} have not been staged yet; chunks apply in order")
    layout = stream_layout(conn) if todo else engine.CANONICAL_LAYOUT
    batches = [todo[s : s + chunks_per_action] for s in range(0, len(todo), chunks_per_action)]
    quick_thread_handoffs()  # the parse worker's Spark calls run beside this thread's merges
    with ExitStack() as open_batches, ThreadPoolExecutor(1, "spark-parse-ahead") as parser:

        def parse_ahead(batch: list[StagedRecord]) -> _Batch:
            copies = open_batches.enter_context(ExitStack())
            inputs = copies.enter_context(spark_inputs(staging, batch, scratch, spark_path))
            # Under `run` the chunks were parsed as they landed: the worker takes those parses,
            # waiting for one under way, while this thread merges the batch before.
            return _Batch(inputs, parser.submit(_take_or_parse, spark, inputs, layout), copies)

        # While PostgreSQL merges one batch, Spark parses the next (one core each).
        parses = (parse_ahead(batch) for batch in batches)
        current = next(parses, None)
        try:
            while current is not None:
                following = next(parses, None)  # its parse starts before this batch merges
                results.extend(
                    engine.apply_chunks(
                        conn,
                        None,
                        current.inputs,
                        rules,
                        importance_md5=importance_md5,
                        layout=layout,
                        parsed=current.parsing.result(),
                    )
                )
                current.copies.close()  # its local copies are no longer needed
                current = following
        except BaseException:
            parser.shutdown(cancel_futures=True)  # a parse not begun yet is not needed
            raise
    results.sort(key=lambda r: r.chunk_index)
    return RangeResult(results=results, requested=sorted(set(requested)))
