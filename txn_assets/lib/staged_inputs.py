"""Staged chunks as Mechanism Y reads them: X's ledger, the stream's layout, Spark-readable inputs.

Shared by a Y run (`mechanism_y`) and the parse of chunks as they land (`chunks_parsed_ahead`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from txn_assets.lib.checksums import md5_bytes
from txn_assets.lib.csv_header import CsvLayout, transactions_layout
from txn_assets.lib.state import engine
from txn_assets.lib.state.engine import ChunkInput
from txn_assets.lib.state.queries import producer as producer_q
from txn_assets.lib.stores.base import ObjectStore


@dataclass(frozen=True)
class StagedRecord:
    """A staged chunk as Mechanism X recorded it: where it is and its checksum."""

    index: int
    key: str
    md5: str
    rows_bytes: int  # the source bytes of its rows (the file adds its header line)


def staged_records(conn: psycopg.Connection[Any], through: int) -> dict[int, StagedRecord]:
    """Mechanism X's ledger of staged chunks up to chunk `through`."""
    rows = conn.execute(producer_q.STAGED_CHUNKS_THROUGH, {"last": through}).fetchall()
    conn.commit()
    return {
        row[0]: StagedRecord(index=row[0], key=row[5], md5=row[4], rows_bytes=row[2] - row[1])
        for row in rows
    }


@contextmanager
def spark_inputs(
    staging: ObjectStore,
    records: Sequence[StagedRecord],
    scratch: Path,
    spark_path: Callable[[str], str | None] = lambda key: None,
) -> Iterator[list[ChunkInput]]:
    """Paths Spark can read for these chunks; local copies live as long as the block.

    A chunk that is missing from staging, or whose bytes are not those Mechanism X staged
    (truncated, overwritten), is passed on with the problem, to be rejected in its turn.
    """
    with ExitStack() as copies:
        inputs = []
        for record in records:
            path = spark_path(record.key)
            if path is not None:  # Spark reads the store itself (Databricks, abfss://)
                inputs.append(
                    ChunkInput(
                        record.index,
                        path,
                        record.md5,
                        load=partial(staging.get, record.key),
                        size=record.rows_bytes,
                    )
                )
                continue
            try:
                local = copies.enter_context(staging.local_copy(record.key, scratch))
            except KeyError:
                missing = f"the staged file is missing: {staging.uri(record.key)}"
                inputs.append(ChunkInput(record.index, record.key, record.md5, problem=missing))
                continue
            data = local.read_bytes()
            found = md5_bytes(data)
            problem = None
            if found != record.md5:
                problem = (
                    f"the staged file's bytes differ from those Mechanism X staged (md5 {found}, "
                    f"staged {record.md5}): truncated or overwritten"
                )
            inputs.append(
                ChunkInput(
                    record.index,
                    str(local),
                    record.md5,
                    load=_constant(data),
                    problem=problem,
                    size=len(data),
                )
            )
        yield inputs


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def stream_layout(conn: psycopg.Connection[Any]) -> CsvLayout:
    """The columns of this stream's chunks: the header Mechanism X recorded at stream start."""
    row = conn.execute(producer_q.PRODUCER_HEADER).fetchone()
    conn.commit()
    return engine.CANONICAL_LAYOUT if row is None else transactions_layout(row[0])
