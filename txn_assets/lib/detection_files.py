"""Detection files: 50 detections each, in detection order, every detection in exactly one file.

File n holds the detections with seq in [50n, 50n + 50). A file is written once it is full, or
when the stream has ended (the last, partial file). The bytes are a pure function of the stored
detections, so a rerun after a crash rewrites identical bytes, which the create-only store
treats as done, and then records the file.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from txn_assets.lib.checksums import md5_bytes
from txn_assets.lib.state.engine import Detection
from txn_assets.lib.state.queries import files as q
from txn_assets.lib.stores.base import ObjectStore, PutOutcome
from txn_assets.lib.stream_status import read_status
from txn_assets.lib.timefmt import format_ist, utc_now

DETECTIONS_PER_FILE = 50
DETECTION_HEADER = (
    "YStartTime",
    "detectionTime",
    "patternId",
    "ActionType",
    "customerName",
    "MerchantId",
)
_FILE_DIGITS = 6


@dataclass(frozen=True)
class WrittenFile:
    """A detection file this call wrote (or found identical from an interrupted earlier call)."""

    file_number: int
    key: str
    uri: str
    rows: int
    outcome: PutOutcome


def detection_file_key(prefix: str, file_number: int) -> str:
    """Zero-padded so that names sort in detection order."""
    return f"{prefix.rstrip('/')}/detections-{file_number:0{_FILE_DIGITS}d}.csv"


def render_detection_file(y_start_time: datetime, detections: Sequence[Detection]) -> bytes:
    """CSV bytes of one file: the header, then one row per detection."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DETECTION_HEADER)
    y_start = format_ist(y_start_time)
    for d in detections:
        writer.writerow(
            (
                y_start,
                format_ist(d.detected_at),
                d.pattern_id,
                d.action_type,
                d.customer,
                d.merchant,
            )
        )
    return buffer.getvalue().encode("utf-8")


def _pending_files(
    conn: psycopg.Connection[Any], through_chunk: int, final: bool
) -> tuple[datetime, list[tuple[int, int]]]:
    row = conn.execute(q.FILE_PLAN, {"through_chunk": through_chunk}).fetchone()
    if row is None:
        raise ValueError(
            f"chunk {through_chunk} is not applied: no detection files can be cut for it"
        )
    total, y_start_time, last_applied = row
    if final and last_applied != through_chunk:
        raise ValueError(f"chunk {through_chunk} is not the last applied chunk ({last_applied})")
    written = {r[0] for r in conn.execute(q.WRITTEN_FILE_NUMBERS)}
    full = total // DETECTIONS_PER_FILE
    ranges = [
        (n * DETECTIONS_PER_FILE, (n + 1) * DETECTIONS_PER_FILE)
        for n in range(full)
        if n not in written
    ]
    if final and total % DETECTIONS_PER_FILE and full not in written:
        ranges.append((full * DETECTIONS_PER_FILE, total))
    return y_start_time, ranges


def write_detection_files(
    conn: psycopg.Connection[Any],
    store: ObjectStore,
    prefix: str,
    through_chunk: int,
    final: bool = False,
) -> list[WrittenFile]:
    """Write every file that is complete through chunk `through_chunk` and not written yet.

    Earlier files left unwritten (a failed run) are caught up too. With final=True (the stream
    has ended and through_chunk is its last chunk) the partial last file is flushed as well.
    """
    y_start_time, ranges = _pending_files(conn, through_chunk, final)
    conn.commit()
    written: list[WrittenFile] = []
    for first, stop in ranges:
        detections = [
            Detection(*r)
            for r in conn.execute(q.DETECTIONS_IN_RANGE, {"first": first, "stop": stop})
        ]
        file_number = first // DETECTIONS_PER_FILE
        key = detection_file_key(prefix, file_number)
        data = render_detection_file(y_start_time, detections)
        outcome = store.put_new(key, data)
        conn.execute(
            q.RECORD_FILE,
            {
                "file_number": file_number,
                "path": key,
                "first_seq": first,
                "last_seq": stop - 1,
                "rows": len(detections),
                "md5": md5_bytes(data),
                "written_at": utc_now(),
            },
        )
        conn.commit()
        written.append(WrittenFile(file_number, key, store.uri(key), len(detections), outcome))
    return written


@dataclass(frozen=True)
class FilesOutcome:
    """What a write through a chunk did, and how many files and detections are in files now."""

    written: list[WrittenFile]
    final: bool
    files_total: int
    detections_in_files: int


def write_files_through(
    conn: psycopg.Connection[Any], store: ObjectStore, prefix: str, through_chunk: int
) -> FilesOutcome:
    """Write every complete file through `through_chunk`; the partial last one if it ends the stream."""
    status = read_status(conn)
    final = status.total_chunks is not None and through_chunk == status.total_chunks - 1
    written = write_detection_files(conn, store, prefix, through_chunk, final=final)
    files, in_files = conn.execute(q.FILE_TOTALS).fetchone()  # type: ignore[misc]
    conn.commit()
    return FilesOutcome(written, final, int(files), int(in_files))
