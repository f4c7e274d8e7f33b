"""Chunks parsed as they land (`txn-assets run`), over real PostgreSQL, Spark and a local store."""

from __future__ import annotations

import threading
import time

import pytest

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.chunks_parsed_ahead import MAX_AHEAD, ChunkParser, parsing_ahead
from txn_assets.lib.csv_header import transactions_layout
from txn_assets.lib.generate import TRANSACTIONS_HEADER, generate
from txn_assets.lib.mechanism_y import apply_staged_range
from txn_assets.lib.producer import cut_next_chunk
from txn_assets.lib.rules import DetectionRules
from txn_assets.lib.sources.local_file import LocalFileSource
from txn_assets.lib.staged_inputs import spark_inputs, staged_records, stream_layout
from txn_assets.lib.state import engine
from txn_assets.lib.state.engine import ChunkInput, load_weights
from txn_assets.lib.stores.local import LocalFolderStore


@pytest.fixture
def stream(conn, spark, tmp_path):
    """Weights loaded; a function that stages the next 1,000-row chunk as Mechanism X does."""
    files = generate(tmp_path / "src", rows=8_000, seed=5)
    load_weights(conn, lambda: spark, str(files.importance), md5_file(files.importance))
    store = LocalFolderStore(tmp_path / "blob")
    source = LocalFileSource(files.transactions)
    return store, lambda: cut_next_chunk(conn, source, store, "staging", 1_000)


def _parser(database_url, store, spark, tmp_path) -> ChunkParser:
    return ChunkParser(database_url, store, lambda: spark, tmp_path / "ahead")


def _until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_takes_the_parses_of_chunks_that_landed_and_parses_nothing_itself(
    conn, spark, database_url, stream, tmp_path, monkeypatch
):
    store, stage = stream
    parsed_by = []
    real = engine.parse_batch

    def spy(spark, chunks, layout):
        parsed_by.append((threading.current_thread().name, [c.index for c in chunks]))
        return real(spark, chunks, layout)

    monkeypatch.setattr(engine, "parse_batch", spy)
    parser = _parser(database_url, store, spark, tmp_path)
    with parsing_ahead(parser):
        stage()
        stage()  # each lands while Y keeps up: parsed as it lands
        _until(lambda: parser.waiting() == [0, 1])
        outcome = apply_staged_range(
            conn, store, [1], lambda: spark, DetectionRules(), tmp_path / "scratch"
        )
        assert parser.waiting() == []  # taken by the run
    assert [(r.chunk_index, r.valid_rows > 0) for r in outcome.results] == [(0, True), (1, True)]
    assert parsed_by and all(name == "chunks-parsed-ahead" for name, _ in parsed_by)
    assert sorted(i for _, chunks in parsed_by for i in chunks) == [0, 1]
    stages = conn.execute(
        "SELECT (stage_seconds->>'spark')::float FROM txn.applied_chunk ORDER BY chunk_index"
    ).fetchall()
    assert all(spark_s > 0 for (spark_s,) in stages)  # the parse ahead's time is reported


def test_a_parse_of_other_bytes_or_another_layout_is_not_taken(
    conn, spark, database_url, stream, tmp_path
):
    store, stage = stream
    stage()
    (record,) = staged_records(conn, 0).values()
    layout = stream_layout(conn)
    wider = transactions_layout(TRANSACTIONS_HEADER + ",extra")
    for refused in ("layout", "bytes"):
        parser = _parser(database_url, store, spark, tmp_path)
        with parsing_ahead(parser), spark_inputs(store, [record], tmp_path / "mine") as inputs:
            _until(lambda: parser.waiting() == [0])  # noqa: B023 (called at once)
            if refused == "layout":
                assert parser.take(inputs, wider) is None
            else:  # e.g. re-staged since: X's ledger names other bytes
                (chunk,) = inputs
                other = ChunkInput(chunk.index, chunk.path, "0" * 32)
                assert parser.take([other], layout) is None
            assert parser.take(inputs, layout) is None  # a refused parse is dropped, not kept


def test_a_chunk_a_run_asked_for_is_never_parsed_ahead_after(
    conn, spark, database_url, stream, tmp_path
):
    store, stage = stream
    stage()
    parser = _parser(database_url, store, spark, tmp_path)
    with spark_inputs(store, list(staged_records(conn, 0).values()), tmp_path / "mine") as inputs:
        assert parser.take(inputs, stream_layout(conn)) is None  # the run parses it itself
    with parsing_ahead(parser):
        stage()
        _until(lambda: parser.waiting() == [1])  # chunk 0, staged and unapplied, is the run's


def test_nothing_is_parsed_ahead_while_y_is_behind(conn, spark, database_url, stream, tmp_path):
    store, stage = stream
    for _ in range(MAX_AHEAD + 1):
        stage()
    parser = _parser(database_url, store, spark, tmp_path)
    with parsing_ahead(parser):
        looked = parser.looks
        _until(lambda: parser.looks >= looked + 2)  # it has looked since, twice
        assert parser.waiting() == []  # the runs parse in batches meanwhile
        apply_staged_range(conn, store, [MAX_AHEAD], lambda: spark, DetectionRules(), tmp_path)
        stage()  # Y has caught up: the next chunk is parsed as it lands
        _until(lambda: parser.waiting() == [MAX_AHEAD + 1])
