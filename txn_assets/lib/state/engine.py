"""Mechanism Y's core: fold one chunk into the PostgreSQL state and emit new detections.

PySpark parses and aggregates a batch of chunks (one Spark action); PostgreSQL merges each
chunk's aggregate and judges the patterns. The merge, the quarantined rows, the detections and
the ledger row commit in one transaction, under a row lock on txn.stream: a chunk is applied
completely or not at all, a rerun finds the ledger row and changes nothing, and two runs can
never interleave their chunks.

Bad input never stops the stream. An unusable row goes to txn.quarantine with its reason and its
exact bytes. A chunk that cannot be read as a whole (missing, changed since it was staged, not
starting with the stream's header, empty) is recorded in the ledger as *rejected* with the
reason, its lines go to quarantine, and the next chunk follows.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg.types.json import Jsonb
from pyspark.sql import SparkSession

from txn_assets.lib import importance_parsing, spark_parsing
from txn_assets.lib.csv_header import (
    CsvLayout,
    importance_layout,
    read_first_line,
    transactions_layout,
)
from txn_assets.lib.generate import TRANSACTIONS_HEADER
from txn_assets.lib.rules import ACTION_TYPES, DetectionRules
from txn_assets.lib.spark_parsing import FileSummary
from txn_assets.lib.state.errors import (
    ChunkContentChangedError,
    ChunkOrderError,
    ReapplyError,
    ReferenceDataChangedError,
    RulesChangedError,
    WeightsNotLoadedError,
)
from txn_assets.lib.state.queries import chunks as q
from txn_assets.lib.timefmt import utc_now

# The layout of chunks when the stream's header is the canonical one (tests, hand-made chunks).
CANONICAL_LAYOUT = transactions_layout(TRANSACTIONS_HEADER)
GENDER_COLUMNS = ("female_rows", "male_rows", "neither_rows", "unknown_gender_rows")


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
    rejected_reason: str | None = None  # set when the chunk was rejected as a whole
    gender_rows: dict[str, int] = field(default_factory=dict)  # GENDER_COLUMNS -> rows

    @property
    def rejected(self) -> bool:
        return self.rejected_reason is not None

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
    """A staged chunk as the engine takes it: index, a path Spark can read, its checksum.

    `load` gives the chunk's bytes when quarantined rows need them (default: read `path`);
    `problem`, when set, says why the chunk cannot be read at all: it will be rejected. `size`
    (bytes), when known, lets a small batch be parsed by one Spark task.
    """

    index: int
    path: str
    content_md5: str
    load: Callable[[], bytes] | None = None
    problem: str | None = None
    size: int | None = None

    def raw_lines(self) -> list[bytes]:
        """The chunk's lines as bytes, without their '\\n' (position 0 is the header)."""
        data = self.load() if self.load is not None else Path(self.path).read_bytes()
        return data.split(b"\n")


def summarise_files(
    spark: SparkSession,
    paths: Sequence[str],
    layout: CsvLayout,
    kind: str,
    total_bytes: int | None = None,
) -> dict[str, FileSummary]:
    """One Spark action for all files: per file base name, its header, aggregates and bad rows."""
    names = [PurePosixPath(p).name for p in paths]
    if len(set(names)) != len(names):
        raise ValueError(f"files of one batch need distinct names: {names}")
    found = spark_parsing.collect_summaries(spark, paths, layout, kind, total_bytes)
    return {name: found.get(name, FileSummary.empty(kind)) for name in names}


def _copy(cur: psycopg.Cursor[Any], statement: str, rows: Iterable[Sequence[Any]]) -> None:
    with cur.copy(statement) as copy:  # type: ignore[arg-type]
        for row in rows:
            copy.write_row(row)


def _copy_table(cur: psycopg.Cursor[Any], statement: str, table: pa.Table) -> None:
    """COPY an Arrow table's columns, in order, as CSV (`statement` says FORMAT csv, UTF8).

    Arrow writes the CSV in C, so a chunk's ~6,000 pairs never become Python rows. Every value
    is quoted and a null is an empty unquoted field, so an empty string stays one; decimals
    keep their digits."""
    text = io.BytesIO()
    options = pa_csv.WriteOptions(include_header=False, quoting_style="all_valid")
    pa_csv.write_csv(table, text, options)
    with cur.copy(statement) as copy:  # type: ignore[arg-type]
        copy.write(text.getbuffer())


def _total(table: pa.Table, column: str) -> int:
    return int(pc.sum(table[column]).as_py() or 0)


def _row_counts(aggregates: pa.Table) -> tuple[int, dict[str, int]]:
    """A chunk's valid rows, and its rows per gender column, from its pair aggregates."""
    return _total(aggregates, "txn_count"), {n: _total(aggregates, n) for n in GENDER_COLUMNS}


def _write_quarantine(
    cur: psycopg.Cursor[Any],
    source: str,
    chunk: int | None,
    rows: Sequence[tuple[int, str]],
    raw_lines: Callable[[], list[bytes]],
) -> None:
    """Bad rows with their reason and exact bytes (read only when there are any)."""
    if not rows:
        return
    lines = raw_lines()
    _copy(
        cur,
        q.COPY_QUARANTINE,
        (
            (source, chunk, number, reason, lines[number] if number < len(lines) else None)
            for number, reason in rows
        ),
    )


def detections_of_chunk(conn: psycopg.Connection[Any], chunk_index: int) -> list[Detection]:
    """The detections a chunk emitted, in detection order."""
    rows = conn.execute(q.DETECTIONS_OF_CHUNK, {"chunk_index": chunk_index}).fetchall()
    return [Detection(*row) for row in rows]


def recorded_result(
    conn: psycopg.Connection[Any], chunk_index: int, content_md5: str
) -> ChunkResult | None:
    """What the ledger says applying a chunk did, or None if it is not in the ledger yet.

    Refuses if the chunk was applied from other bytes: staged chunks never change.
    """
    row = conn.execute(q.APPLIED_CHUNK, {"chunk_index": chunk_index}).fetchone()
    if row is None:
        return None
    (_, md5, valid, quarantined, _, total, _, status, reason, *genders) = row
    if status == "applied" and md5 != content_md5:
        raise ChunkContentChangedError(
            f"chunk {chunk_index} was applied from content {md5}, now offered {content_md5}: "
            "staged chunks must never change"
        )
    return ChunkResult(
        chunk_index=chunk_index,
        valid_rows=valid,
        quarantined_rows=quarantined,
        detections=detections_of_chunk(conn, chunk_index),
        detections_total=total,
        already_applied=True,
        rejected_reason=reason if status == "rejected" else None,
        gender_rows=dict(zip(GENDER_COLUMNS, genders, strict=True)),
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


def _rejection(summary: FileSummary, layout: CsvLayout) -> str | None:
    if summary.header is None:
        return "the file is empty"
    if summary.header != layout.header:
        return f"its first line is not the stream's header: found {summary.header[:120]!r}"
    return None


@dataclass(frozen=True)
class ParsedBatch:
    """Spark's part of applying a batch of chunks, done before (or beside) the merges.

    Parsing reads no state and writes none, so a batch can be parsed while the batch before it
    is merged (`mechanism_y`): Spark and PostgreSQL then work at the same time.
    """

    summaries: dict[str, FileSummary]  # per file name, every readable chunk of the batch
    seconds: float  # the Spark action's time
    chunks: int  # the chunks of the batch, readable or not

    @property
    def share(self) -> float:
        """One chunk's share of the Spark action (the ledger's `spark` stage)."""
        return self.seconds / self.chunks if self.chunks else 0.0


def parse_batch(
    spark: SparkSession | None, chunks: Sequence[ChunkInput], layout: CsvLayout
) -> ParsedBatch:
    """One Spark action over the chunks that can be read (`spark` may be None if none can)."""
    readable = [c for c in chunks if c.problem is None]
    started = time.monotonic()
    summaries: dict[str, FileSummary] = {}
    if readable:
        if spark is None:
            raise ValueError("readable chunks need a Spark session")
        summaries = summarise_files(
            spark, [c.path for c in readable], layout, "transactions", _total_size(readable)
        )
    return ParsedBatch(summaries, time.monotonic() - started, len(chunks))


def apply_chunks(
    conn: psycopg.Connection[Any],
    spark: SparkSession | None,
    chunks: Sequence[ChunkInput],
    rules: DetectionRules,
    clock: Callable[[], datetime] = utc_now,
    importance_md5: str | None = None,
    layout: CsvLayout = CANONICAL_LAYOUT,
    parsed: ParsedBatch | None = None,
) -> list[ChunkResult]:
    """Fold consecutive chunks in order: one Spark action for all, one transaction per chunk.

    A Spark job costs most of a second whatever its size, so a run that is behind parses its
    whole batch at once and catches up; each chunk still commits on its own, in order. `layout`
    is the stream's header: a chunk that does not start with it is rejected. With
    importance_md5, chunks are refused unless the weights came from that file. `spark` may be
    None when every pending chunk already has a problem (nothing for Spark to read), or when
    `parsed` holds the batch's parse already (`parse_batch` of these very inputs).
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
        if parsed is None:
            parsed = parse_batch(spark, pending, layout)
        unparsed = [
            c.path
            for c in pending
            if c.problem is None and PurePosixPath(c.path).name not in parsed.summaries
        ]
        if unparsed:  # an empty summary would reject them as files without a header
            raise ValueError(f"chunks {unparsed} are not in the parsed batch")
        for chunk in pending:
            summary = parsed.summaries.get(
                PurePosixPath(chunk.path).name, FileSummary.empty("transactions")
            )
            problem = chunk.problem or _rejection(summary, layout)
            if problem is not None:
                results[chunk.index] = _reject(conn, chunk, problem, clock)
            else:
                results[chunk.index] = _apply_summary(
                    conn, chunk, summary, rules, clock, parsed.share, importance_md5
                )
    return [results[c.index] for c in ordered]


def _total_size(chunks: Sequence[ChunkInput]) -> int | None:
    """The bytes of these chunks together, if each one's size is known."""
    sizes = [c.size for c in chunks]
    return None if None in sizes else sum(s for s in sizes if s is not None)


def _lock_stream(cur: psycopg.Cursor[Any], conn: psycopg.Connection[Any], chunk: ChunkInput):  # type: ignore[no-untyped-def]
    """Lock the stream row and re-check under the lock; the recorded result if already done."""
    stream = cur.execute(q.LOCK_STREAM).fetchone()
    assert stream is not None, "migration 0001 creates the stream row"
    # Another run may have applied chunks since the checks before Spark ran.
    done = recorded_result(conn, chunk.index, chunk.content_md5)
    if done is None:
        _check_next(conn, chunk.index)
    return stream, done


def _reject(
    conn: psycopg.Connection[Any],
    chunk: ChunkInput,
    reason: str,
    clock: Callable[[], datetime],
) -> ChunkResult:
    """Record a chunk that cannot be read as rejected; its lines go to quarantine."""

    def readable_lines() -> list[bytes]:
        try:
            return chunk.raw_lines()
        except (OSError, KeyError):  # the file is gone: nothing to keep
            return []

    lines = readable_lines()
    numbered = [(n, f"chunk rejected: {reason}") for n, raw in enumerate(lines) if raw.strip()]
    with conn.transaction(), conn.cursor() as cur:
        _, done = _lock_stream(cur, conn, chunk)
        if done is not None:
            return done
        total = cur.execute(q.NEXT_SEQ).fetchone()[0]  # type: ignore[index]
        _write_quarantine(cur, "transactions", chunk.index, numbered, lambda: lines)
        cur.execute(
            q.RECORD_REJECTED,
            {
                "chunk_index": chunk.index,
                "content_md5": chunk.content_md5,
                "quarantined_rows": len(numbered),
                "detections_total": total,
                "reason": reason,
                "applied_at": clock(),
            },
        )
    return ChunkResult(
        chunk_index=chunk.index,
        valid_rows=0,
        quarantined_rows=len(numbered),
        detections=[],
        detections_total=total,
        already_applied=False,
        rejected_reason=reason,
    )


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
    aggregates, bad_rows = summary.aggregates, summary.bad_rows
    valid_rows, genders = _row_counts(aggregates)
    with conn.transaction(), conn.cursor() as cur:
        stream, done = _lock_stream(cur, conn, chunk)
        if done is not None:
            return done
        stored_rules, _, weights_loaded_at, weights_md5 = stream
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
        merging = time.monotonic()
        first_seq, emitted = _merge_and_detect(cur, chunk_index, aggregates, rules, now)
        recording = time.monotonic()
        _write_quarantine(cur, "transactions", chunk_index, bad_rows, chunk.raw_lines)
        stages = {
            "spark": round(spark_seconds, 4),
            "merge_detect": round(recording - merging, 4),
            "record": round(time.monotonic() - recording, 4),
        }
        cur.execute(
            q.RECORD_APPLIED,
            {
                "chunk_index": chunk_index,
                "content_md5": content_md5,
                "valid_rows": valid_rows,
                "quarantined_rows": len(bad_rows),
                "detections": emitted,
                "detections_total": first_seq + emitted,
                "applied_at": now,
                **genders,
                "stage_seconds": Jsonb(stages),
            },
        )
        detections = detections_of_chunk(conn, chunk_index)
    return ChunkResult(
        chunk_index=chunk_index,
        valid_rows=valid_rows,
        quarantined_rows=len(bad_rows),
        detections=detections,
        detections_total=first_seq + emitted,
        already_applied=False,
        seconds=spark_seconds + time.monotonic() - started,
        gender_rows=genders,
    )


def reapply_rejected(
    conn: psycopg.Connection[Any],
    spark: SparkSession,
    chunk: ChunkInput,
    rules: DetectionRules,
    layout: CsvLayout = CANONICAL_LAYOUT,
    clock: Callable[[], datetime] = utc_now,
) -> ChunkResult:
    """Apply a rejected chunk late, once its cause is fixed (re-staged from the source).

    Its rows count from now on: detections it makes true are emitted now, with the next seqs.
    Refused while it is still unreadable, and once the stream's last (partial) detection file
    is written, since that file is final and create-only.
    """
    if chunk.problem is not None:
        raise ReapplyError(f"chunk {chunk.index} is still unreadable: {chunk.problem}")
    summary = summarise_files(spark, [chunk.path], layout, "transactions", chunk.size)[
        PurePosixPath(chunk.path).name
    ]
    problem = _rejection(summary, layout)
    if problem is not None:
        raise ReapplyError(f"chunk {chunk.index} is still unreadable: {problem}")
    valid_rows, genders = _row_counts(summary.aggregates)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(q.LOCK_STREAM)
        status = cur.execute(q.REJECTED_CHUNK, {"chunk_index": chunk.index}).fetchone()
        if status is None or status[0] != "rejected":
            raise ReapplyError(f"chunk {chunk.index} is not a rejected chunk")
        if cur.execute(q.FINAL_FILE_WRITTEN).fetchone()[0]:  # type: ignore[index]
            raise ReapplyError(
                "the stream's last detection file is written and final: re-applying a chunk now "
                "would change it; start a new stream with the repaired chunk instead"
            )
        now = clock()
        cur.execute(q.DELETE_CHUNK_QUARANTINE, {"chunk_index": chunk.index})
        _, emitted = _merge_and_detect(cur, chunk.index, summary.aggregates, rules, now)
        _write_quarantine(cur, "transactions", chunk.index, summary.bad_rows, chunk.raw_lines)
        cur.execute(
            q.RECORD_REAPPLIED,
            {
                "chunk_index": chunk.index,
                "valid_rows": valid_rows,
                "quarantined_rows": len(summary.bad_rows),
                "detections": emitted,
                "applied_at": now,
                **genders,
            },
        )
        detections = detections_of_chunk(conn, chunk.index)
    return ChunkResult(
        chunk_index=chunk.index,
        valid_rows=valid_rows,
        quarantined_rows=len(summary.bad_rows),
        detections=detections,
        detections_total=detections[-1].seq + 1 if detections else 0,
        already_applied=False,
        gender_rows=genders,
    )


def _merge_and_detect(
    cur: psycopg.Cursor[Any],
    chunk_index: int,
    aggregates: pa.Table,
    rules: DetectionRules,
    now: datetime,
) -> tuple[int, int]:
    """Merge a chunk's pair aggregates into the state and emit what now holds: (first seq, n)."""
    cur.execute(q.CREATE_CHUNK_PAIR)
    _copy_table(cur, q.COPY_CHUNK_PAIR, aggregates.select(q.CHUNK_PAIR_COLUMNS))
    cur.execute(q.MERGE_MERCHANT_CUSTOMER)
    cur.execute(q.MERGE_MERCHANT)
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
    return first_seq, cur.rowcount


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
    spark: Callable[[], SparkSession],
    importance_path: str,
    importance_md5: str,
    clock: Callable[[], datetime] = utc_now,
    scratch: Path | None = None,
) -> WeightLoadResult:
    """Load CustomerImportance once per stream; the same file again is a no-op.

    Columns are found by name in the file's header (a missing one fails with one clear line);
    unusable rows are quarantined with their bytes. Plain lines are read with Arrow and Spark
    (`spark`, asked for only then) judges the others (`importance_parsing`); `scratch` holds
    those lines meanwhile. Two loaders may race (a sensor-requested run and a manual one): the
    file is parsed outside any transaction, then the first to lock the stream row inserts; the
    other finds it loaded.
    """
    done = loaded_weights(conn, importance_md5)
    if done is not None:
        return done
    path = Path(importance_path)
    layout = importance_layout(read_first_line(path), what=path.name)
    summary = importance_parsing.summarise_importance(path, layout, spark, scratch)
    with conn.transaction(), conn.cursor() as cur:
        stream = cur.execute(q.LOCK_STREAM).fetchone()
        assert stream is not None
        loaded_meanwhile = stream[3] is not None  # by another process, while this one parsed
        if not loaded_meanwhile:
            _insert_weights(cur, summary, importance_md5, clock(), path)
    if loaded_meanwhile:  # outside the transaction: the check above commits and compares again
        return load_weights(conn, spark, importance_path, importance_md5, clock, scratch)
    return WeightLoadResult(
        pairs=summary.aggregates.num_rows,
        quarantined_rows=len(summary.bad_rows),
        already_loaded=False,
    )


def _insert_weights(
    cur: psycopg.Cursor[Any], summary: FileSummary, importance_md5: str, now: datetime, path: Path
) -> None:
    cur.execute(q.CREATE_WEIGHT_STAGE)
    _copy_table(cur, q.COPY_WEIGHT_STAGE, summary.aggregates.select(q.WEIGHT_STAGE_COLUMNS))
    cur.execute(q.INSERT_WEIGHTS)
    _write_quarantine(
        cur, "importance", None, summary.bad_rows, lambda: path.read_bytes().split(b"\n")
    )
    cur.execute(q.RECORD_WEIGHTS, {"md5": importance_md5, "now": now})
