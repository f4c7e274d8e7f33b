"""The warm-up exercises every branch of both parsing plans, and reuses the process's session."""

from __future__ import annotations

import logging
import threading
import time

from txn_assets.lib import settings, spark_warmup
from txn_assets.lib.spark_session import spark_config
from txn_assets.lib.spark_warmup import start_in_background, warm_up


def test_the_warm_up_files_reach_the_aggregate_and_the_quarantine_branches(spark, tmp_path):
    chunk, weights = warm_up(spark, tmp_path)

    assert chunk.header is not None and chunk.header.startswith("step,customer")
    assert [
        (r["merchant"], r["customer"], r["txn_count"]) for r in chunk.aggregates.to_pylist()
    ] == [("M1", "C1", 1)]
    assert [reason for _, reason in chunk.bad_rows] == ["amount is not a number: not-a-number"]
    assert [(r["customer"], r["merchant"]) for r in weights.aggregates.to_pylist()] == [
        ("C1", "M1")
    ]
    assert [reason for _, reason in weights.bad_rows] == ["weight is negative: -1"]


def test_a_streams_warm_up_also_parses_chunks_of_full_size(spark, tmp_path):
    tiny, *full = warm_up(spark, tmp_path, full_size_chunks=2, reference=False)

    assert [reason for _, reason in tiny.bad_rows] == ["amount is not a number: not-a-number"]
    assert len(full) == 2
    for summary in full:
        rows = summary.aggregates.column("txn_count").to_pylist()
        assert sum(rows) == settings.CHUNK_ROWS and summary.bad_rows == []
        assert 5_000 < len(rows) < 7_000  # pairs, as many as a real chunk has


def test_a_background_start_joins_the_session_already_running(spark, spark_log, caplog):
    with caplog.at_level(logging.WARNING, logger="txn_assets.lib.spark_warmup"):
        thread = start_in_background(spark_config(log_file=str(spark_log)))
        thread.join(timeout=120)

    assert not thread.is_alive()
    assert not caplog.records, caplog.text
    assert spark.sparkContext._jsc is not None  # the shared session is still up


def test_the_background_warm_up_keeps_its_files_under_the_scratch_folder_it_is_given(
    spark, spark_log, tmp_path, monkeypatch
):
    folders = []
    monkeypatch.setattr(
        spark_warmup, "warm_up", lambda spark, scratch, **options: folders.append(scratch)
    )
    scratch_root = tmp_path / "home" / "scratch"

    thread = start_in_background(spark_config(log_file=str(spark_log)), scratch_root=scratch_root)
    thread.join(timeout=120)

    [folder] = folders
    assert folder.parent == scratch_root and folder.name.startswith("txn-warm-up-")
    assert list(scratch_root.iterdir()) == []  # removed once warmed


def test_a_warm_up_asked_to_stop_skips_the_actions_it_has_not_started(spark, tmp_path):
    stop = threading.Event()
    stop.set()

    assert len(warm_up(spark, tmp_path, full_size_chunks=2, stop=stop)) == 1  # the tiny chunk


def test_an_exit_interrupts_the_warm_ups_action_and_no_other_job(
    spark, spark_log, tmp_path, monkeypatch, caplog
):
    """A process that exits mid warm-up (X failed at once) must not finalize with the warm-up's
    thread inside Spark: stop_warm_ups interrupts the warm-up's running action, and only it."""
    parse = spark_warmup._parse_chunk
    started, finished = threading.Event(), []

    def endless_parse(session, chunk):
        if chunk.name.startswith("warm-up-full-size"):
            started.set()
            # As the real parse collects: to Arrow. A job that runs for hours unless interrupted.
            session.range(10**14).selectExpr("max(id)").toArrow()
        finished.append(parse(session, chunk))

    # Another thread's job, untagged, running while the warm-up is stopped: it must finish.
    other: list[int] = []
    other_job = threading.Thread(
        target=lambda: other.append(
            spark.range(3 * 10**8).selectExpr("max(id) AS top").toArrow()["top"][0].as_py()
        )
    )
    monkeypatch.setattr(spark_warmup, "_parse_chunk", endless_parse)
    try:
        with caplog.at_level(logging.INFO, logger="txn_assets.lib.spark_warmup"):
            thread = start_in_background(
                spark_config(log_file=str(spark_log)), tmp_path, full_size_chunks=5
            )
            assert started.wait(120)
            other_job.start()
            deadline = time.monotonic() + 60
            while len(spark.sparkContext.statusTracker().getActiveJobsIds()) < 2:
                assert time.monotonic() < deadline, "the two jobs never ran together"
                time.sleep(0.05)

            assert spark_warmup.stop_warm_ups(timeout=60)
            other_job.join(120)
    finally:  # a failed stop must not leave an endless job or a stop request to later tests
        spark.sparkContext.cancelAllJobs()
        spark_warmup._stop_requested.clear()

    assert not thread.is_alive()
    assert len(finished) == 1  # the tiny chunk; the endless action was interrupted, no other ran
    assert [r.levelname for r in caplog.records] == ["INFO"], caplog.text
    assert other == [3 * 10**8 - 1]  # the untagged job was left alone
    assert spark.range(3).count() == 3  # the session itself is still up
