"""The end-of-run summary adds up the ledger: rows, quarantine, detections per pattern, latency."""

from __future__ import annotations

from datetime import timedelta

from txn_assets.lib.stream_summary import chunk_timings, read_progress, read_summary
from txn_assets.lib.timefmt import utc_now


def _ledger(conn) -> None:
    staged = utc_now()
    for index, (valid, quarantined, status) in enumerate(
        [(9_990, 10, "applied"), (10_000, 0, "applied"), (0, 7, "rejected")]
    ):
        conn.execute(
            "INSERT INTO txn.staged_chunk (chunk_index, byte_start, byte_end, first_row, rows, md5, "
            "staged_key, staged_at) VALUES (%s, 0, 1, 0, 10000, 'm', 'k', %s)",
            (index, staged + timedelta(seconds=index)),
        )
        conn.execute(
            "INSERT INTO txn.applied_chunk (chunk_index, content_md5, valid_rows, quarantined_rows, "
            "detections, detections_total, applied_at, status, reason, stage_seconds) VALUES "
            "(%s, 'm', %s, %s, 0, 0, %s, %s, %s, %s)",
            (
                index,
                valid,
                quarantined,
                staged + timedelta(seconds=index + 1.0),
                status,
                "bad header" if status == "rejected" else None,
                '{"spark": 0.3, "merge_detect": 0.2, "record": 0.05}',
            ),
        )
    conn.commit()


def test_the_summary_adds_up_the_ledger_and_times_applied_chunks_only(conn):
    _ledger(conn)

    summary = read_summary(conn, files=4)

    assert (summary.chunks, summary.rejected_chunks) == (3, 1)
    assert (summary.valid_rows, summary.quarantined_rows) == (19_990, 17)
    assert summary.detections == {"UPGRADE": 0, "CHILD": 0, "DEI-NEEDED": 0}
    # applied_at is 1 s after staging, and the chunk commits after merge + record (0.25 s)
    assert [round(t.latency, 3) for t in chunk_timings(conn)] == [1.25, 1.25]
    assert summary.latency_p50 == summary.latency_p95 == 1.25
    assert [round(t.cost, 3) for t in chunk_timings(conn)] == [0.55, 0.55]


def test_the_summary_lines_name_every_figure(conn):
    _ledger(conn)

    text = "\n".join(read_summary(conn, files=4).lines(wall_seconds=12.34))

    for expected in (
        "chunks applied",
        "3 (1 rejected)",
        "19,990 valid, 17 quarantined",
        "detections UPGRADE",
        "detections DEI-NEEDED",
        "detection files",
        "12.3s",
        "p50 1.25s, p95 1.25s",
    ):
        assert expected in text


def test_timings_of_some_chunks_are_those_chunks_only(conn):
    _ledger(conn)
    assert [t.index for t in chunk_timings(conn, [1, 2])] == [1], "2 was rejected"
    assert [t.index for t in chunk_timings(conn)] == [0, 1]


def test_progress_counts_applied_rows_and_estimates_the_chunks_from_the_bytes_staged(conn):
    _ledger(conn)
    conn.execute(
        "INSERT INTO txn.producer (source_name, source_size, source_md5, chunk_rows, header, "
        "next_chunk, next_offset, next_row) VALUES ('t.csv', 4000, 'm', 10000, 'h', 3, 1000, 30000)"
    )
    conn.execute(
        "INSERT INTO txn.detection (seq, chunk_index, pattern_id, action_type, customer, merchant, "
        "detected_at) VALUES (0, 0, 'PatId2', 'CHILD', 'C1', 'M1', now())"
    )
    conn.commit()
    figures = read_progress(conn)
    assert (figures.rows_applied, figures.rows_quarantined) == (19_990, 17)
    assert figures.detections == {"UPGRADE": 0, "CHILD": 1, "DEI-NEEDED": 0}
    # 3 chunks covered a quarter of the source's bytes: about 12 in all.
    assert figures.expected_chunks(3) == 12
