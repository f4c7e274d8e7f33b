"""Mechanism Y's core: fold one chunk into the PostgreSQL state and emit new detections.

PySpark parses and aggregates a chunk (one Spark action); PostgreSQL merges the aggregate and
judges the patterns. The merge, the detections and the ledger row commit in one transaction,
under a row lock on txn.stream: a chunk is applied completely or not at all, a rerun finds the
ledger row and changes nothing, and two runs can never interleave their chunks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import psycopg
from pyspark.sql import SparkSession

from txn_assets.lib import spark_parsing
from txn_assets.lib.generate import IMPORTANCE_HEADER, TRANSACTIONS_HEADER
from txn_assets.lib.rules import ACTION_TYPES, DetectionRules
from txn_assets.lib.state.errors import (
    BadFileError,
    ChunkContentChangedError,
    ChunkOrderError,
    ReferenceDataChangedError,
    RulesChangedError,
    WeightsNotLoadedError,
)
from txn_assets.lib.state.queries import chunks as q
from txn_assets.lib.timefmt import utc_now


@dataclass(frozen=True)
class Detection:
    """One emitted detection; seq is its position in detection order (0-based)."""

    seq: int
    chunk_index: int
    pattern_id: str
    action_type: str
    customer: str
    merchant: str
    detected_at: datetime


@dataclass(frozen=True)
class ChunkResult:
    """What applying a chunk did (or, for a rerun, what the first application did)."""

    chunk_index: int
    valid_rows: int
    quarantined_rows: int
    detections: list[Detection]
    detections_total: int
    already_applied: bool
    seconds: float = 0.0

    def detections_by_pattern(self) -> dict[str, int]:
        """Counts per ActionType, every pattern present (zero included) for stable metadata."""
        counts = dict.fromkeys(ACTION_TYPES, 0)
        for detection in self.detections:
            counts[detection.action_type] += 1
        return counts


@dataclass(frozen=True)
class WeightLoadResult:
    """What loading CustomerImportance did."""

    pairs: int
    quarantined_rows: int
    already_loaded: bool


@dataclass(frozen=True)
class ChunkInput:
    """A staged chunk as the engine takes it: index, a path Spark can read, its checksum."""

    index: int
    path: str
    content_md5: str


@dataclass(frozen=True)
class FileSummary:
    """One file's share of a Spark summary: its first line, pair aggregates and bad rows."""

    header: str | None
    aggregates: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]


def summarise_files(
    spark: SparkSession, paths: Sequence[str], transactions: bool
) -> dict[str, FileSummary]:
    """One Spark action for all files: per file base name, its header, aggregates and bad rows."""
    names = [PurePosixPath(p).name for p in paths]
    if len(set(names)) != len(names):
        raise ValueError(f"files of one batch need distinct names: {names}")
    lines = spark_parsing.read_lines(spark, list(paths))
    if transactions:
        parsed = spark_parsing.parse_transactions(lines)
        aggregate = spark_parsing.aggregate_pairs(parsed.valid)
    else:
        parsed = spark_parsing.parse_importance(lines)
        aggregate = spark_parsing.aggregate_weights(parsed.valid)
    # Bounded by the batch's row count (a few chunks, or the reference file's distinct pairs).
    rows = spark_parsing.summarise(parsed, aggregate).toArrow().to_pylist()
    found = {name: FileSummary(None, [], []) for name in names}
    for row in rows:
        summary = found[row["file"]]
        if row["kind"] == "header":
            found[row["file"]] = FileSummary(
                row["raw_line"], summary.aggregates, summary.quarantined
            )
        elif row["kind"] == "aggregate":
            summary.aggregates.append(row)
        else:
            summary.quarantined.append(row)
    for summary in found.values():
        summary.quarantined.sort(key=lambda r: r["row_number"])
    return found


def _check_header(header: str | None, expected: str, path: str) -> None:
    if header != expected:
        raise BadFileError(f"{path}: first line must be the header {expected!r}, found {header!r}")


def _copy(cur: psycopg.Cursor[Any], statement: str, rows: Iterable[Sequence[Any]]) -> None:
    with cur.copy(statement) as copy:  # type: ignore[arg-type]
        for row in rows:
            copy.write_row(row)


def _write_quarantine(
    cur: psycopg.Cursor[Any], source: str, chunk: int | None, rows: list[dict[str, Any]]
) -> None:
    _copy(
        cur,
        q.COPY_QUARANTINE,
        ((source, chunk, r["row_number"], r["reason"], r["raw_line"]) for r in rows),
    )


def detections_of_chunk(conn: psycopg.Connection[Any], chunk_index: int) -> list[Detection]:
    """The detections a chunk emitted, in detection order."""
    rows = conn.execute(q.DETECTIONS_OF_CHUNK, {"chunk_index": chunk_index}).fetchall()
    return [Detection(*row) for row in rows]


def recorded_result(
    conn: psycopg.Connection[Any], chunk_index: int, content_md5: str
) -> ChunkResult | None:
    """What the ledger says applying a chunk did, or None if it is not applied yet.

    Refuses if the chunk was applied from other bytes: staged chunks never change.
    """
    row = conn.execute(q.APPLIED_CHUNK, {"chunk_index": chunk_index}).fetchone()
    if row is None:
        return None
    if row[1] != content_md5:
        raise ChunkContentChangedError(
            f"chunk {chunk_index} was applied from content {row[1]}, now offered {content_md5}: "
            "staged chunks must never change"
        )
    return ChunkResult(
        chunk_index=chunk_index,
        valid_rows=row[2],
        quarantined_rows=row[3],
        detections=detections_of_chunk(conn, chunk_index),
        detections_total=row[5],
        already_applied=True,
    )


def next_chunk(conn: psycopg.Connection[Any]) -> int:
    """The only chunk the engine accepts now (chunks apply in order)."""
    return int(conn.execute(q.NEXT_CHUNK).fetchone()[0])  # type: ignore[index]


def _check_next(conn: psycopg.Connection[Any], chunk_index: int) -> None:
    expected = next_chunk(conn)
    if chunk_index != expected:
        raise ChunkOrderError(
            f"chunk {chunk_index} cannot be applied: chunks apply in order and the next one is "
            f"{expected}"
        )


def apply_chunk(
    conn: psycopg.Connection[Any],
    spark: SparkSession,
    chunk_index: int,
    chunk_path: str,
    content_md5: str,
    rules: DetectionRules,
    clock: Callable[[], datetime] = utc_now,
) -> ChunkResult:
    """Fold chunk `chunk_index` (file at chunk_path) into the state; a rerun is a no-op."""
    return apply_chunks(
        conn, spark, [ChunkInput(chunk_index, chunk_path, content_md5)], rules, clock
    )[0]


def apply_chunks(
    conn: psycopg.Connection[Any],
    spark: SparkSession,
    chunks: Sequence[ChunkInput],
    rules: DetectionRules,
    clock: Callable[[], datetime] = utc_now,
    importance_md5: str | None = None,
) -> list[ChunkResult]:
    """Fold consecutive chunks in order: one Spark action for all, one transaction per chunk.

    A Spark job costs most of a second whatever its size, so a run that is behind parses its
    whole batch at once and catches up; each chunk still commits on its own, in order.
    With importance_md5, chunks are refused unless the weights came from that file.
    """
    ordered = sorted(chunks, key=lambda c: c.index)
    results: dict[int, ChunkResult] = {}
    pending = []
    for chunk in ordered:
        done = recorded_result(conn, chunk.index, chunk.content_md5)
        conn.commit()
        if done is not None:
            results[chunk.index] = done
        else:
            pending.append(chunk)
    if pending:
        _check_next(conn, pending[0].index)
        conn.commit()
        started = time.monotonic()
        summaries = summarise_files(spark, [c.path for c in pending], transactions=True)
        spark_share = (time.monotonic() - started) / len(pending)
        for chunk in pending:
            summary = summaries[PurePosixPath(chunk.path).name]
            _check_header(summary.header, TRANSACTIONS_HEADER, chunk.path)
            results[chunk.index] = _apply_summary(
                conn, chunk, summary, rules, clock, spark_share, importance_md5
            )
    return [results[c.index] for c in ordered]


def _apply_summary(
    conn: psycopg.Connection[Any],
    chunk: ChunkInput,
    summary: FileSummary,
    rules: DetectionRules,
    clock: Callable[[], datetime],
    spark_seconds: float,
    importance_md5: str | None,
) -> ChunkResult:
    """The chunk's one transaction: merge, quarantine, detect, record."""
    started = time.monotonic()
    chunk_index, content_md5 = chunk.index, chunk.content_md5
    aggregates, quarantined = summary.aggregates, summary.quarantined
    with conn.transaction(), conn.cursor() as cur:
        stream = cur.execute(q.LOCK_STREAM).fetchone()
        assert stream is not None, "migration 0001 creates the stream row"
        stored_rules, _, weights_loaded_at, weights_md5 = stream
        # Re-check under the lock: another run may have applied chunks since the checks above.
        done = recorded_result(conn, chunk_index, content_md5)
        if done is not None:
            return done
        _check_next(conn, chunk_index)
        if weights_loaded_at is None:
            raise WeightsNotLoadedError(
                "load CustomerImportance (the weights) before applying chunks"
            )
        if importance_md5 is not None and importance_md5 != weights_md5:
            raise ReferenceDataChangedError(
                f"CustomerImportance changed (md5 {weights_md5} -> {importance_md5}) after this "
                "stream loaded its weights: the stream refuses to judge chunks with two versions; "
                "restore the file, or start a new stream on a fresh state database"
            )
        fingerprint = rules.fingerprint()
        if stored_rules is not None and stored_rules != fingerprint:
            raise RulesChangedError(
                f"this stream runs with rules {stored_rules}, offered {fingerprint}"
            )
        now = clock()
        cur.execute(q.START_STREAM, {"rules": fingerprint, "now": now})

        cur.execute(q.CREATE_CHUNK_PAIR)
        _copy(
            cur,
            q.COPY_CHUNK_PAIR,
            (
                (
                    r["merchant"],
                    r["customer"],
                    r["txn_count"],
                    r["amount_sum"],
                    r["seen_female"],
                    r["seen_male"],
                )
                for r in aggregates
            ),
        )
        cur.execute(q.MERGE_MERCHANT_CUSTOMER)
        cur.execute(q.MERGE_MERCHANT)
        _write_quarantine(cur, "transactions", chunk_index, quarantined)

        first_seq = cur.execute(q.NEXT_SEQ).fetchone()[0]  # type: ignore[index]
        cur.execute(
            q.DETECT,
            {
                "upgrade_count_percentile": rules.upgrade_count_percentile,
                "upgrade_weight_percentile": rules.upgrade_weight_percentile,
                "upgrade_min_merchant_txns": rules.upgrade_min_merchant_txns,
                "child_min_txns": rules.child_min_txns,
                "child_max_mean_amount": rules.child_max_mean_amount,
                "dei_min_female_customers": rules.dei_min_female_customers,
                "first_seq": first_seq,
                "chunk_index": chunk_index,
                "detected_at": now,
            },
        )
        emitted = cur.rowcount
        valid_rows = sum(int(r["txn_count"]) for r in aggregates)
        cur.execute(
            q.RECORD_APPLIED,
            {
                "chunk_index": chunk_index,
                "content_md5": content_md5,
                "valid_rows": valid_rows,
                "quarantined_rows": len(quarantined),
                "detections": emitted,
                "detections_total": first_seq + emitted,
                "applied_at": now,
            },
        )
        detections = detections_of_chunk(conn, chunk_index)
    return ChunkResult(
        chunk_index=chunk_index,
        valid_rows=valid_rows,
        quarantined_rows=len(quarantined),
        detections=detections,
        detections_total=first_seq + emitted,
        already_applied=False,
        seconds=spark_seconds + time.monotonic() - started,
    )


def loaded_weights(conn: psycopg.Connection[Any], importance_md5: str) -> WeightLoadResult | None:
    """The weights if they are loaded from this file; None if none are loaded yet.

    Refuses a different file: a stream judges every chunk with the weights it started with.
    """
    row = conn.execute(q.STREAM_WEIGHTS).fetchone()
    conn.commit()
    if row is None or row[0] is None:
        return None
    if row[0] != importance_md5:
        raise ReferenceDataChangedError(
            f"this stream's weights came from CustomerImportance md5 {row[0]}, offered "
            f"{importance_md5}: a stream keeps its weights; start a new stream on a fresh state "
            "database to use another file"
        )
    pairs = conn.execute(q.WEIGHT_PAIRS).fetchone()[0]  # type: ignore[index]
    conn.commit()
    return WeightLoadResult(pairs=pairs, quarantined_rows=0, already_loaded=True)


def load_weights(
    conn: psycopg.Connection[Any],
    spark: SparkSession,
    importance_path: str,
    importance_md5: str,
    clock: Callable[[], datetime] = utc_now,
) -> WeightLoadResult:
    """Load CustomerImportance once per stream; the same file again is a no-op.

    Two loaders may race (a sensor-requested run and a manual one): Spark parses outside any
    transaction, then the first to lock the stream row inserts; the other finds it loaded.
    """
    done = loaded_weights(conn, importance_md5)
    if done is not None:
        return done
    summary = summarise_files(spark, [importance_path], transactions=False)[
        PurePosixPath(importance_path).name
    ]
    aggregates, quarantined = summary.aggregates, summary.quarantined
    _check_header(summary.header, IMPORTANCE_HEADER, importance_path)
    with conn.transaction(), conn.cursor() as cur:
        stream = cur.execute(q.LOCK_STREAM).fetchone()
        assert stream is not None
        loaded_meanwhile = stream[3] is not None  # by another process, while Spark parsed
        if not loaded_meanwhile:
            _insert_weights(cur, summary, importance_md5, clock())
    if loaded_meanwhile:  # outside the transaction: the check above commits and compares again
        return load_weights(conn, spark, importance_path, importance_md5, clock)
    return WeightLoadResult(
        pairs=len(aggregates), quarantined_rows=len(quarantined), already_loaded=False
    )


def _insert_weights(
    cur: psycopg.Cursor[Any], summary: FileSummary, importance_md5: str, now: datetime
) -> None:
    cur.execute(q.CREATE_WEIGHT_STAGE)
    _copy(
        cur,
        q.COPY_WEIGHT_STAGE,
        (
            (r["customer"], r["merchant"], r["weight_sum"], r["weight_rows"])
            for r in summary.aggregates
        ),
    )
    cur.execute(q.INSERT_WEIGHTS)
    _write_quarantine(cur, "importance", None, summary.quarantined)
    cur.execute(q.RECORD_WEIGHTS, {"md5": importance_md5, "now": now})
