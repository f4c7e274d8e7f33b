"""The stream at a glance, read from the state database in one query.

The sensor decides what to request from it, the runner prints it as progress, and the checks
compare it with what the stores hold: durable state, never what was requested before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import class_row

from txn_assets.lib.state.queries import stream as q


@dataclass(frozen=True)
class StreamStatus:
    """How far Mechanism X and Mechanism Y are."""

    staged: int  # chunks staged (X stages chunks 0..staged-1, in order)
    applied: int  # chunks in the ledger
    next_chunk: int  # the first chunk not in the ledger
    detections: int
    files: int
    weights_md5: str | None  # CustomerImportance the weights came from; None: not loaded
    total_chunks: int | None  # known once X has staged the last chunk
    oldest_pending_seconds: float | None  # age of the oldest staged, unapplied chunk
    rejected: list[int]  # chunks in the ledger as rejected (unreadable as a whole)

    @property
    def pending(self) -> range:
        """Staged chunks not in the ledger yet, in the order they must apply."""
        return range(self.next_chunk, self.staged)

    @property
    def lag(self) -> int:
        """Chunks staged but not yet applied."""
        return self.staged - self.applied

    @property
    def finished(self) -> bool:
        """X has staged the whole source and Y has applied every chunk of it."""
        return self.total_chunks is not None and self.applied >= self.total_chunks


def read_status(conn: psycopg.Connection[Any]) -> StreamStatus:
    """The stream's status now."""
    with conn.cursor(row_factory=class_row(StreamStatus)) as cur:
        status = cur.execute(q.STATUS).fetchone()
    conn.commit()
    assert status is not None, "migration 0001 creates the stream row"
    return status
