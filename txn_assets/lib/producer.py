"""Mechanism X's core: cut the next chunk of the source into the staging store, exactly once.

Order of effects in a tick: read the rows, write the end-of-stream marker (if this chunk reaches
the end of the file), write the chunk (create-only, atomic), then advance the position in
PostgreSQL. A crash anywhere repeats the tick from the same position and re-cuts the same bytes,
which the store finds identical: no gap, no duplicate. Writing the marker before the last chunk
means a consumer that sees the last chunk always sees the marker too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg

from txn_assets.lib.checksums import md5_bytes
from txn_assets.lib.chunks import chunk_file_name
from txn_assets.lib.csv_header import HeaderError, clean_line, transactions_layout
from txn_assets.lib.sources.base import RangedSource, SourceChangedError, SourceIdentity
from txn_assets.lib.state.queries import producer as q
from txn_assets.lib.stores.base import ObjectStore, PutOutcome

STREAM_END_NAME = "_stream_end.json"
READ_BLOCK = 1 << 20


class ChunkNotStagedError(LookupError):
    """A chunk was asked for that Mechanism X has not staged (yet)."""


@dataclass(frozen=True)
class StagedChunk:
    """A chunk now in staging."""

    index: int
    key: str
    rows: int
    byte_start: int
    byte_end: int
    md5: str
    is_last: bool
    outcome: PutOutcome


@dataclass(frozen=True)
class StreamEnd:
    """The end-of-stream marker: how many chunks the stream has in total."""

    chunks: int
    rows: int


def staged_chunk_key(prefix: str, index: int) -> str:
    """Where chunk `index` lives in the staging store."""
    return f"{prefix.rstrip('/')}/{chunk_file_name(index)}"


def stream_end_key(prefix: str) -> str:
    """Where the end-of-stream marker lives in the staging store."""
    return f"{prefix.rstrip('/')}/{STREAM_END_NAME}"


def read_stream_end(store: ObjectStore, prefix: str) -> StreamEnd | None:
    """The marker, once Mechanism X has reached the end of the source."""
    key = stream_end_key(prefix)
    if not store.exists(key):
        return None
    data = json.loads(store.get(key))
    return StreamEnd(chunks=int(data["chunks"]), rows=int(data["rows"]))


def _read_lines(
    source: RangedSource, offset: int, size: int, count: int | None
) -> tuple[bytes, int, int]:
    """Up to `count` complete lines from offset (all to the end if None): (bytes, lines, end).

    Ranges are read block by block; a line cut by a block boundary is carried into the next
    block. A last line without a newline at the end of the file still counts as a line.
    """
    pieces: list[bytes] = []
    lines = 0
    position = offset
    carry = b""
    while position < size and (count is None or lines < count):
        block = source.read_range(position, min(position + READ_BLOCK, size))
        if not block:
            raise OSError(f"short read at byte {position} of {size}: the source returned nothing")
        position += len(block)
        data = carry + block
        cut = 0
        while count is None or lines < count:
            newline = data.find(b"\n", cut)
            if newline < 0:
                break
            cut = newline + 1
            lines += 1
        pieces.append(data[:cut])
        carry = data[cut:]
        if count is not None and lines == count:
            position -= len(carry)
            carry = b""
    if carry:  # the file ends without a newline
        pieces.append(carry + b"\n")
        lines += 1
    return b"".join(pieces), lines, position


def _start_stream(
    conn: psycopg.Connection[Any], source: RangedSource, identity: SourceIdentity, chunk_rows: int
) -> None:
    header, lines, end = _read_lines(source, 0, identity.size, 1)
    if lines != 1:
        raise HeaderError(f"{identity.name}: the file is empty")
    try:
        text = clean_line(header.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise HeaderError(f"{identity.name}: the header is not UTF-8 text ({err})") from err
    # Columns are found by name; a missing one stops X here, before anything is staged.
    transactions_layout(text, what=identity.name)
    conn.execute(
        q.START_PRODUCER,
        {
            "name": identity.name,
            "size": identity.size,
            "md5": identity.md5,
            "chunk_rows": chunk_rows,
            "header": text,
            "offset": end,
        },
    )


def _check_unchanged(row: tuple[Any, ...], identity: SourceIdentity, chunk_rows: int) -> None:
    name, size, md5, stored_rows = row[0], row[1], row[2], row[3]
    if (size, md5) != (identity.size, identity.md5):
        raise SourceChangedError(
            f"source {name} changed under the running stream (size {size} -> {identity.size}, "
            f"md5 {md5} -> {identity.md5}); refusing to cut chunks that mix two files"
        )
    if stored_rows != chunk_rows:
        raise ValueError(f"this stream cuts {stored_rows}-row chunks; {chunk_rows} was asked for")


def cut_next_chunk(
    conn: psycopg.Connection[Any],
    source: RangedSource,
    store: ObjectStore,
    staging_prefix: str,
    chunk_rows: int,
) -> StagedChunk | None:
    """Stage the next chunk; None once the whole source is staged."""
    identity = source.identity()
    with conn.transaction():
        # The row lock makes two producers take turns instead of cutting the same chunk twice.
        row = conn.execute(q.LOCK_PRODUCER).fetchone()
        if row is None:
            _start_stream(conn, source, identity, chunk_rows)
            row = conn.execute(q.LOCK_PRODUCER).fetchone()
            assert row is not None
        _check_unchanged(row, identity, chunk_rows)
        header, index, offset, first_row, ended = row[4], row[5], row[6], row[7], row[8]
        if ended:
            return None
        body, rows, end = _read_lines(source, offset, identity.size, chunk_rows)
        reached_end = end >= identity.size
        if reached_end:
            chunks = index + 1 if rows else index
            marker = json.dumps({"chunks": chunks, "rows": first_row + rows}).encode()
            store.put_new(stream_end_key(staging_prefix), marker)
        staged = None
        if rows:
            data = header.encode("utf-8") + b"\n" + body
            key = staged_chunk_key(staging_prefix, index)
            outcome = store.put_new(key, data)
            md5 = md5_bytes(data)
            conn.execute(
                q.RECORD_STAGED,
                {
                    "index": index,
                    "start": offset,
                    "end": end,
                    "first_row": first_row,
                    "rows": rows,
                    "md5": md5,
                    "key": key,
                },
            )
            staged = StagedChunk(index, key, rows, offset, end, md5, reached_end, outcome)
        conn.execute(q.NOTIFY_STAGED)
        conn.execute(
            q.ADVANCE_PRODUCER,
            {
                "next_chunk": index + (1 if rows else 0),
                "next_offset": end,
                "next_row": first_row + rows,
                "ended": reached_end,
            },
        )
    return staged


def restage_chunk(
    conn: psycopg.Connection[Any],
    source: RangedSource,
    store: ObjectStore,
    staging_prefix: str,
    index: int,
) -> StagedChunk:
    """Re-cut an already staged chunk from its recorded byte range (a rerun from the UI).

    Never cuts a new chunk: only Mechanism X advances the stream. A staged file that is missing
    or no longer has the recorded bytes is written again.
    """
    row = conn.execute(q.STAGED_CHUNK, {"index": index}).fetchone()
    producer = conn.execute(q.PRODUCER).fetchone()
    conn.commit()
    if row is None or producer is None:
        raise ChunkNotStagedError(
            f"chunk {index} has not been staged yet: launch mechanism_x_job to stage it"
        )
    _check_unchanged(producer, source.identity(), producer[3])
    _, start, end, rows, md5, key = row
    body, lines, _ = _read_lines(source, start, end, None)
    data = producer[4].encode("utf-8") + b"\n" + body
    if lines != rows or md5_bytes(data) != md5:
        raise SourceChangedError(f"chunk {index} no longer matches its recorded bytes")
    try:
        current = store.get(key)
    except KeyError:
        current = None
    if current is not None and md5_bytes(current) != md5:
        # Changed in the store since it was staged (truncated, overwritten): the recorded bytes
        # win, so that a rejected chunk can be repaired and re-applied.
        store.delete(key)
    outcome = store.put_new(key, data)
    is_last = bool(producer[8]) and producer[5] == index + 1
    return StagedChunk(index, key, rows, start, end, md5, is_last, outcome)
