"""Audits of what is stored, for the asset checks: each returns the problems it found.

They read the state database and the stores as they are now, so they catch what the engine's
own bookkeeping cannot: a detection file changed or deleted in the store, a ledger row lost,
totals that drifted, a stream that stopped moving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from txn_assets.lib.checksums import md5_bytes
from txn_assets.lib.chunks import chunk_key
from txn_assets.lib.detection_files import (
    DETECTIONS_PER_FILE,
    detection_file_key,
    render_detection_file,
)
from txn_assets.lib.state.engine import Detection
from txn_assets.lib.state.queries import files as files_q
from txn_assets.lib.state.queries import stream as stream_q
from txn_assets.lib.stores.base import ObjectStore
from txn_assets.lib.stream_status import read_status
from txn_assets.lib.timefmt import utc_now


@dataclass(frozen=True)
class Audit:
    """Problems found (none: the check passes) and figures to show either way."""

    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems


def audit_detection_files(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    prefix: str,
    grace_seconds: float = 60.0,
    now: datetime | None = None,
) -> Audit:
    """Files tile detection seq 0..n-1 exactly once, hold exactly the stored detections, and
    every file that should exist (full, or the last one at stream end) does after a grace period."""
    now = now or utc_now()
    records = conn.execute(files_q.FILE_RECORDS).fetchall()
    detections = [Detection(*row) for row in conn.execute(files_q.ALL_DETECTIONS)]
    y_start = conn.execute(files_q.Y_START_TIME).fetchone()[0]  # type: ignore[index]
    conn.commit()
    problems: list[str] = []
    covered = 0
    expected_keys = set()
    for number, path, first_seq, last_seq, rows, md5 in records:
        expected_keys.add(path)
        if path != detection_file_key(prefix, number):
            problems.append(
                f"file {number} is recorded at {path}, expected {detection_file_key(prefix, number)}"
            )
        if first_seq != covered or last_seq != first_seq + rows - 1:
            problems.append(
                f"file {number} covers seq {first_seq}..{last_seq}; the files before it end at {covered - 1}"
            )
        if rows != DETECTIONS_PER_FILE and number != len(records) - 1:
            problems.append(
                f"file {number} holds {rows} detections; only the last may hold fewer than 50"
            )
        covered = last_seq + 1
        expected = (
            render_detection_file(y_start, detections[first_seq : last_seq + 1]) if y_start else b""
        )
        if md5_bytes(expected) != md5:
            problems.append(
                f"file {number}: recorded md5 {md5} does not match the stored detections"
            )
        try:
            stored = store.get(path)
        except KeyError:
            problems.append(
                f"file {number} is recorded but missing from the store: {store.uri(path)}"
            )
            continue
        if md5_bytes(stored) != md5:
            problems.append(
                f"file {number} in the store differs from its recorded md5 {md5}: {store.uri(path)}"
            )
    stray = sorted(set(store.list_keys(prefix)) - expected_keys)
    if stray:
        problems.append(f"unrecorded objects under {prefix}/: {stray[:5]}")
    if covered > len(detections):
        problems.append(f"files cover {covered} detections but only {len(detections)} are stored")
    status = read_status(conn)
    unfiled = conn.execute(files_q.UNFILED_DETECTIONS, {"covered": covered}).fetchall()
    conn.commit()
    deadline = now - timedelta(seconds=grace_seconds)
    by_file: dict[int, list[datetime]] = {}
    for seq, applied_at in unfiled:
        by_file.setdefault(seq // DETECTIONS_PER_FILE, []).append(applied_at)
    for number, applied in sorted(by_file.items()):
        complete = len(applied) == DETECTIONS_PER_FILE or status.finished
        if complete and max(applied) < deadline:
            problems.append(
                f"file {number} ({len(applied)} detections applied by {max(applied):%H:%M:%S} UTC) "
                "has not been written"
            )
    return Audit(
        problems,
        {"files": len(records), "detections": len(detections), "detections_in_files": covered},
    )


def audit_totals(conn: psycopg.Connection[Any]) -> Audit:
    """Merchant totals equal the valid rows of the applied chunks and the sum of their pairs."""
    ledger_rows, merchant_rows, merchants_off = conn.execute(stream_q.TOTALS_AUDIT).fetchone()  # type: ignore[misc]
    conn.commit()
    problems = []
    if ledger_rows != merchant_rows:
        problems.append(
            f"merchants hold {merchant_rows} transactions but the applied chunks had {ledger_rows} valid rows"
        )
    if merchants_off:
        problems.append(f"{merchants_off} merchants' totals differ from the sum of their customers")
    return Audit(problems, {"ledger_rows": int(ledger_rows), "merchant_rows": int(merchant_rows)})


def audit_lag(conn: psycopg.Connection[Any], max_lag_seconds: float) -> Audit:
    """Every staged chunk is applied within max_lag_seconds of being staged."""
    status = read_status(conn)
    age = status.oldest_pending_seconds
    figures = {"lag_chunks": status.lag, "oldest_pending_seconds": round(age or 0.0, 1)}
    if age is not None and age > max_lag_seconds:
        return Audit(
            [
                f"chunk {chunk_key(status.next_chunk)} was staged {age:.0f}s ago and is not applied "
                f"({status.lag} chunks waiting; the limit is {max_lag_seconds:.0f}s)"
            ],
            figures,
        )
    return Audit([], figures)


def audit_quarantine(conn: psycopg.Connection[Any], max_share: float) -> Audit:
    """At most max_share of the stream's rows were quarantined."""
    valid, quarantined, worst_chunk = conn.execute(stream_q.QUARANTINE_AUDIT).fetchone()  # type: ignore[misc]
    conn.commit()
    total = int(valid) + int(quarantined)
    share = int(quarantined) / total if total else 0.0
    figures = {
        "quarantined_rows": int(quarantined),
        "share": round(share, 5),
        "worst_chunk": chunk_key(worst_chunk) if worst_chunk is not None else "-",
    }
    if share > max_share:
        return Audit([f"{share:.2%} of rows quarantined (more than {max_share:.2%})"], figures)
    return Audit([], figures)


def audit_chunk(conn: psycopg.Connection[Any], index: int) -> Audit:
    """A chunk is in the ledger as applied; rejected (with the reason) or missing is a problem."""
    row = conn.execute(stream_q.CHUNK_LEDGER, {"chunk_index": index}).fetchone()
    conn.commit()
    if row is None:
        return Audit([f"chunk {chunk_key(index)} is not applied yet"], {})
    status, reason, valid, quarantined, unknown_gender, reapplied_at = row
    figures = {
        "status": status,
        "rows": int(valid),
        "quarantined_rows": int(quarantined),
        "unknown_gender_rows": int(unknown_gender),
    }
    if status == "rejected":
        return Audit(
            [
                f"chunk {chunk_key(index)} was rejected: {reason}; {quarantined} of its lines are "
                "in txn.quarantine. Once the cause is fixed, re-stage it (materialise "
                "staged_chunk) and re-apply it (materialise pattern_state with reapply_rejected)"
            ],
            figures,
        )
    if reapplied_at is not None:
        figures["reapplied_at"] = reapplied_at.isoformat()
    return Audit([], figures)
