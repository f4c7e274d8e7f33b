"""Mechanism Y's core over real PostgreSQL, Spark and a local store, without Dagster."""

from __future__ import annotations

import sys

import pytest

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.generate import generate
from txn_assets.lib.mechanism_y import apply_staged_range
from txn_assets.lib.producer import cut_next_chunk
from txn_assets.lib.rules import DetectionRules
from txn_assets.lib.sources.local_file import LocalFileSource
from txn_assets.lib.spark_session import SWITCH_INTERVAL_SECONDS
from txn_assets.lib.state.engine import load_weights
from txn_assets.lib.stores.local import LocalFolderStore


@pytest.fixture
def staged(conn, spark, tmp_path):
    """Weights loaded and three chunks staged by Mechanism X's core."""
    files = generate(tmp_path / "src", rows=3_000, seed=2)
    load_weights(conn, lambda: spark, str(files.importance), md5_file(files.importance))
    store = LocalFolderStore(tmp_path / "blob")
    for _ in range(3):
        cut_next_chunk(conn, LocalFileSource(files.transactions), store, "staging", 1_000)
    return store


def _apply(conn, spark, store, requested, tmp_path):
    return apply_staged_range(
        conn, store, requested, lambda: spark, DetectionRules(), tmp_path / "scratch"
    )


def test_a_range_applies_earlier_unapplied_chunks_first(conn, spark, staged, tmp_path):
    sys.setswitchinterval(0.005)  # Python's default
    outcome = _apply(conn, spark, staged, [2], tmp_path)
    # Its parse worker calls Spark beside the merges: the interpreter hands over quickly.
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_SECONDS)
    assert [r.chunk_index for r in outcome.results] == [0, 1, 2]
    assert [r.chunk_index for r in outcome.earlier] == [0, 1]
    again = _apply(conn, spark, staged, [0, 1, 2], tmp_path)
    assert all(r.already_applied for r in again.results) and not again.spark_needed


def test_the_spark_batch_is_told_the_size_of_its_chunks(conn, spark, staged, tmp_path, monkeypatch):
    # Mechanism Y knows each staged chunk's bytes: a small batch runs as one Spark task.
    from txn_assets.lib.state import engine

    asked = []
    summarise = engine.summarise_files

    def spy(spark, paths, layout, kind, total_bytes=None):
        asked.append(total_bytes)
        return summarise(spark, paths, layout, kind, total_bytes)

    monkeypatch.setattr(engine, "summarise_files", spy)
    _apply(conn, spark, staged, [2], tmp_path)
    files = sorted((tmp_path / "blob" / "staging").glob("chunk-*.csv"))
    assert asked == [sum(f.stat().st_size for f in files)]


def test_a_staged_file_that_changed_or_vanished_is_rejected_and_the_stream_goes_on(
    conn, spark, staged, tmp_path
):
    changed = tmp_path / "blob" / "staging" / "chunk-000001.csv"
    lines = changed.read_bytes().split(b"\n")
    changed.write_bytes(b"\n".join(lines[:500]))  # truncated mid-stream
    (tmp_path / "blob" / "staging" / "chunk-000002.csv").unlink()
    outcome = _apply(conn, spark, staged, [0, 1, 2], tmp_path)
    assert [r.rejected for r in outcome.results] == [False, True, True]
    assert "differ from those Mechanism X staged" in outcome.results[1].rejected_reason
    assert "truncated or overwritten" in outcome.results[1].rejected_reason
    assert outcome.results[2].rejected_reason.startswith("the staged file is missing")
    # The truncated chunk's readable lines are kept, each with the reason and its bytes.
    kept = conn.execute(
        "SELECT row_number, raw_bytes, reason FROM txn.quarantine WHERE chunk_index = 1 "
        "ORDER BY row_number"
    ).fetchall()
    assert [bytes(r[1]) for r in kept] == [line for line in lines[:500] if line.strip()]
    assert all(r[2].startswith("chunk rejected: the staged file's bytes differ") for r in kept)
    ledger = conn.execute("SELECT chunk_index, status FROM txn.applied_chunk ORDER BY 1").fetchall()
    assert ledger == [(0, "applied"), (1, "rejected"), (2, "rejected")]


def test_while_one_batch_merges_spark_parses_the_next(conn, spark, staged, tmp_path, monkeypatch):
    # Parsing reads no state: batch k+1's Spark action runs while batch k merges in PostgreSQL.
    import threading

    from txn_assets.lib.state import engine

    parse_started = {index: threading.Event() for index in range(3)}
    real_parse, real_apply = engine.parse_batch, engine.apply_chunks

    def parse(spark, chunks, layout):
        parse_started[chunks[0].index].set()
        return real_parse(spark, chunks, layout)

    def apply(conn, spark, chunks, *args, **kwargs):
        following = chunks[0].index + 1
        if following in parse_started:  # merges only once the next batch is being parsed
            assert parse_started[following].wait(timeout=60), f"batch {following} not parsed ahead"
        return real_apply(conn, spark, chunks, *args, **kwargs)

    monkeypatch.setattr(engine, "parse_batch", parse)
    monkeypatch.setattr(engine, "apply_chunks", apply)
    outcome = apply_staged_range(
        conn,
        staged,
        [2],
        lambda: spark,
        DetectionRules(),
        tmp_path / "scratch",
        chunks_per_action=1,
    )
    assert [r.chunk_index for r in outcome.results] == [0, 1, 2]
    assert sum(r.valid_rows for r in outcome.results) == 3_000
    ledger = conn.execute(
        "SELECT chunk_index, status, valid_rows FROM txn.applied_chunk ORDER BY 1"
    ).fetchall()
    assert ledger == [(r.chunk_index, "applied", r.valid_rows) for r in outcome.results]


def test_a_failed_merge_waits_for_the_parse_ahead_and_leaves_no_copies(
    conn, spark, staged, tmp_path, monkeypatch
):
    import threading

    from txn_assets.lib.state import engine
    from txn_assets.lib.stores.base import ObjectStore

    class CopyingStore(LocalFolderStore):
        """A store whose readers get local copies in the scratch folder, as Azure's do."""

        local_copy = ObjectStore.local_copy

    scratch = tmp_path / "scratch"
    copies_while_merging = []

    def fail(*args, **kwargs):
        copies_while_merging.extend(scratch.rglob("*chunk-*.csv"))
        raise RuntimeError("the merge failed")

    monkeypatch.setattr(engine, "apply_chunks", fail)
    store = CopyingStore(tmp_path / "blob")
    with pytest.raises(RuntimeError, match="the merge failed"):
        apply_staged_range(
            conn, store, [2], lambda: spark, DetectionRules(), scratch, chunks_per_action=1
        )
    assert len(copies_while_merging) == 2  # this batch's copy and the next one's, parsed ahead
    assert not [t for t in threading.enumerate() if t.name.startswith("spark-parse-ahead")]
    assert not list(scratch.rglob("*chunk-*.csv"))  # the local copies of both batches are gone
    assert conn.execute("SELECT count(*) FROM txn.applied_chunk").fetchone() == (0,)
