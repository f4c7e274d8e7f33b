"""What a finished (or stopped) stream did, in figures a person reads at the end of `run`."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from txn_assets.lib.rules import ACTION_TYPES
from txn_assets.lib.state.queries import stream as q


@dataclass(frozen=True)
class ChunkTiming:
    """One applied chunk: when it landed, seconds until its detections committed, its stages."""

    index: int
    rows: int
    staged_at: datetime
    latency: float
    stages: dict[str, float]

    @property
    def cost(self) -> float:
        """Seconds Mechanism Y spent on it (its Spark share, merge + detect, records)."""
        return sum(self.stages.values())


def chunk_timings(
    conn: psycopg.Connection[Any], chunks: Sequence[int] | None = None
) -> list[ChunkTiming]:
    """The applied chunks' timings (all, or those of `chunks`), in chunk order.

    A chunk's detections are durable when its transaction commits, after its last stage.
    """
    timings = []
    rows_of = conn.execute(
        q.CHUNK_TIMELINE, {"chunks": list(chunks) if chunks is not None else None}
    )
    for index, rows, staged_at, applied_at, stages, _ in rows_of:
        stages = stages or {}
        committed = applied_at.timestamp() + stages.get("merge_detect", 0) + stages.get("record", 0)
        timings.append(
            ChunkTiming(index, rows, staged_at, committed - staged_at.timestamp(), stages)
        )
    conn.commit()
    return timings


@dataclass(frozen=True)
class StreamSummary:
    """Totals of the ledger and the latency of its chunks (landed in staging → committed)."""

    chunks: int
    rejected_chunks: int
    valid_rows: int
    quarantined_rows: int
    detections: dict[str, int]  # per ActionType, every pattern present
    files: int
    latency_p50: float | None
    latency_p95: float | None

    def lines(self, wall_seconds: float) -> list[str]:
        """The summary as aligned `name  value` lines."""
        latency = (
            f"p50 {self.latency_p50:.2f}s, p95 {self.latency_p95:.2f}s"
            if self.latency_p50 is not None and self.latency_p95 is not None
            else "n/a"
        )
        rows = [
            ("chunks applied", f"{self.chunks:,} ({self.rejected_chunks} rejected)"),
            ("rows", f"{self.valid_rows:,} valid, {self.quarantined_rows:,} quarantined"),
            *((f"detections {name}", f"{count:,}") for name, count in self.detections.items()),
            ("detection files", f"{self.files:,}"),
            ("wall time", f"{wall_seconds:.1f}s"),
            ("latency staged → committed", latency),
        ]
        width = max(len(name) for name, _ in rows)
        return [f"  {name:<{width}}  {value}" for name, value in rows]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def read_summary(conn: psycopg.Connection[Any], files: int) -> StreamSummary:
    """The stream's summary from the ledger; `files` is the number of detection files written."""
    valid, quarantined, rejected = conn.execute(q.SUMMARY_ROWS).fetchone()  # type: ignore[misc]
    by_pattern = dict(conn.execute(q.DETECTIONS_BY_PATTERN).fetchall())
    conn.commit()
    latencies = [timing.latency for timing in chunk_timings(conn)]
    return StreamSummary(
        chunks=len(latencies) + rejected,
        rejected_chunks=rejected,
        valid_rows=int(valid),
        quarantined_rows=int(quarantined),
        detections={name: int(by_pattern.get(name, 0)) for name in ACTION_TYPES},
        files=files,
        latency_p50=statistics.median(latencies) if latencies else None,
        latency_p95=_percentile(latencies, 0.95) if latencies else None,
    )


@dataclass(frozen=True)
class ProgressFigures:
    """The figures a live display adds to the stream's status."""

    rows_applied: int
    rows_quarantined: int
    detections: dict[str, int]  # per ActionType, every pattern present
    bytes_staged: int | None  # None until X has started
    source_bytes: int | None

    def expected_chunks(self, staged: int) -> int | None:
        """The stream's chunk count, estimated from how much of the source the staged ones cover."""
        if not staged or not self.bytes_staged or not self.source_bytes:
            return None
        return max(staged, round(staged * self.source_bytes / self.bytes_staged))


def read_progress(conn: psycopg.Connection[Any]) -> ProgressFigures:
    """Rows applied, detections per pattern and X's position in the source, now."""
    rows, quarantined, staged_bytes, source_bytes = conn.execute(q.PROGRESS).fetchone()  # type: ignore[misc]
    by_pattern = dict(conn.execute(q.DETECTIONS_BY_PATTERN).fetchall())
    conn.commit()
    return ProgressFigures(
        rows_applied=int(rows),
        rows_quarantined=int(quarantined),
        detections={name: int(by_pattern.get(name, 0)) for name in ACTION_TYPES},
        bytes_staged=staged_bytes,
        source_bytes=source_bytes,
    )
