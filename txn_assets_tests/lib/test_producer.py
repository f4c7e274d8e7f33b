"""Mechanism X's cutter: exact chunk boundaries, resume without gap or duplicate, clear stops."""

from __future__ import annotations

import json

import pytest

from txn_assets.lib import producer
from txn_assets.lib.csv_header import HeaderError
from txn_assets.lib.generate import TRANSACTIONS_HEADER, generate
from txn_assets.lib.producer import (
    ChunkNotStagedError,
    cut_next_chunk,
    read_stream_end,
    restage_chunk,
    stream_end_key,
)
from txn_assets.lib.sources.base import SourceChangedError
from txn_assets.lib.sources.local_file import LocalFileSource
from txn_assets.lib.stores.base import PutOutcome
from txn_assets.lib.stores.local import LocalFolderStore


@pytest.fixture
def source_file(tmp_path):
    return generate(tmp_path / "src", rows=2_500, seed=9).transactions


@pytest.fixture
def store(tmp_path):
    return LocalFolderStore(tmp_path / "blob")


def _cut_all(conn, source, store, chunk_rows=1_000):
    chunks = []
    while (chunk := cut_next_chunk(conn, source, store, "staging", chunk_rows)) is not None:
        chunks.append(chunk)
    return chunks


def _data_rows(store, chunks):
    rows = []
    for chunk in chunks:
        header, *lines = store.get(chunk.key).decode().splitlines()
        assert header == TRANSACTIONS_HEADER
        rows.extend(lines)
    return rows


def test_chunks_hold_consecutive_rows_and_cover_the_file_exactly(conn, source_file, store):
    chunks = _cut_all(conn, LocalFileSource(source_file), store)
    assert [c.rows for c in chunks] == [1_000, 1_000, 500]
    assert [c.index for c in chunks] == [0, 1, 2]
    assert _data_rows(store, chunks) == source_file.read_text().splitlines()[1:]
    assert [c.is_last for c in chunks] == [False, False, True]
    assert read_stream_end(store, "staging") == producer.StreamEnd(chunks=3, rows=2_500)


def test_lines_split_across_range_reads_are_carried_over(conn, source_file, store, monkeypatch):
    monkeypatch.setattr(producer, "READ_BLOCK", 37)  # far smaller than a line
    chunks = _cut_all(conn, LocalFileSource(source_file), store)
    assert _data_rows(store, chunks) == source_file.read_text().splitlines()[1:]


def test_restart_resumes_at_the_next_chunk(conn, source_file, store, database_url):
    import psycopg

    first = cut_next_chunk(conn, LocalFileSource(source_file), store, "staging", 1_000)
    with psycopg.connect(database_url) as other:  # a new process: only PostgreSQL remembers
        second = cut_next_chunk(other, LocalFileSource(source_file), store, "staging", 1_000)
    assert (first.index, second.index) == (0, 1)
    assert second.byte_start == first.byte_end


def test_crash_after_writing_before_commit_restages_identical_bytes(
    conn, source_file, store, monkeypatch
):
    real_put = store.put_new

    def put_then_crash(key, data):
        real_put(key, data)
        if key.endswith("chunk-000000.csv"):
            raise RuntimeError("crash after the write")

    monkeypatch.setattr(store, "put_new", put_then_crash)
    with pytest.raises(RuntimeError):
        cut_next_chunk(conn, LocalFileSource(source_file), store, "staging", 1_000)
    monkeypatch.setattr(store, "put_new", real_put)
    again = cut_next_chunk(conn, LocalFileSource(source_file), store, "staging", 1_000)
    assert (again.index, again.outcome) == (0, PutOutcome.IDENTICAL)
    assert cut_next_chunk(conn, LocalFileSource(source_file), store, "staging", 1_000).index == 1


def test_a_changed_source_stops_the_stream(conn, source_file, store):
    source = LocalFileSource(source_file)
    cut_next_chunk(conn, source, store, "staging", 1_000)
    with source_file.open("a") as handle:
        handle.write("179,'C1','3','F','28007','M1','28007','es_food',1.00,0\n")
    with pytest.raises(SourceChangedError, match="changed under the running stream"):
        cut_next_chunk(conn, source, store, "staging", 1_000)


def test_a_last_line_without_newline_is_a_row(conn, tmp_path, store):
    path = tmp_path / "t.csv"
    path.write_text(TRANSACTIONS_HEADER + "\n0,'C1','3','F','28007','M1','28007','es_food',1.00,0")
    (chunk,) = _cut_all(conn, LocalFileSource(path), store)
    assert chunk.rows == 1 and store.get(chunk.key).endswith(b",0\n")


def test_exact_multiple_marks_the_end_with_the_last_full_chunk(conn, tmp_path, store):
    path = generate(tmp_path / "even", rows=2_000, seed=1).transactions
    chunks = _cut_all(conn, LocalFileSource(path), store)
    assert [c.rows for c in chunks] == [1_000, 1_000] and chunks[-1].is_last
    assert json.loads(store.get(stream_end_key("staging")))["chunks"] == 2


def test_restage_rewrites_identical_bytes_and_refuses_unstaged_chunks(conn, source_file, store):
    source = LocalFileSource(source_file)
    chunks = _cut_all(conn, source, store)
    again = restage_chunk(conn, source, store, "staging", 1)
    assert again.outcome is PutOutcome.IDENTICAL and again.md5 == chunks[1].md5
    with pytest.raises(ChunkNotStagedError, match="chunk 7 has not been staged yet"):
        restage_chunk(conn, source, store, "staging", 7)


def test_chunk_size_cannot_change_mid_stream(conn, source_file, store):
    cut_next_chunk(conn, LocalFileSource(source_file), store, "staging", 1_000)
    with pytest.raises(ValueError, match="1000-row chunks"):
        cut_next_chunk(conn, LocalFileSource(source_file), store, "staging", 500)


def test_a_spreadsheet_saved_source_is_staged_with_its_header_cleaned(conn, tmp_path, store):
    path = tmp_path / "t.csv"
    header = '\ufeff "Amount" ,\'CUSTOMER\', gender , "Merchant" ,step'
    rows = ["12.50,'C1','F','M1',0", "3.00,'C2','M','M1',0"]
    path.write_bytes(("\r\n".join([header, *rows])).encode())
    (chunk,) = _cut_all(conn, LocalFileSource(path), store)
    lines = store.get(chunk.key).split(b"\n")
    # The BOM and the CR are gone from the header line; the rows keep their bytes.
    assert lines[0] == header.removeprefix("\ufeff").encode()
    assert lines[1:] == [rows[0].encode() + b"\r", rows[1].encode(), b""]


def test_a_source_without_a_required_column_stops_x_before_anything_is_staged(
    conn, tmp_path, store
):
    path = tmp_path / "t.csv"
    path.write_text("step,customer,gender,merchant,value\n0,'C1','F','M1',1.00\n")
    with pytest.raises(HeaderError) as raised:
        cut_next_chunk(conn, LocalFileSource(path), store, "staging", 1_000)
    assert str(raised.value) == (
        "t.csv: the header has no column 'amount' (found: step, customer, gender, merchant, value)"
    )
    assert store.list_keys("staging") == []
    assert conn.execute("SELECT count(*) FROM txn.producer").fetchone()[0] == 0
