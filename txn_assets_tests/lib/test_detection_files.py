"""Detection files: 50 per file, ordered names, every detection once, partial file only at the end."""

from __future__ import annotations

import csv
import io

import pytest

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.detection_files import (
    DETECTION_HEADER,
    detection_file_key,
    write_detection_files,
)
from txn_assets.lib.rules import DetectionRules
from txn_assets.lib.state.engine import apply_chunk, load_weights
from txn_assets.lib.stores.base import PutOutcome
from txn_assets.lib.stores.local import LocalFolderStore
from txn_assets_tests.builders import txns, write_chunk, write_importance


@pytest.fixture
def store(tmp_path):
    return LocalFolderStore(tmp_path / "blob")


def _emit_child_detections(conn, spark, folder, chunk_index: int, customers: range) -> None:
    rows = [t for c in customers for t in txns(f"C{c:04d}", "M1", 80, "1.00")]
    path = write_chunk(folder / f"chunk-{chunk_index}.csv", rows)
    apply_chunk(conn, spark, chunk_index, str(path), md5_file(path), DetectionRules())


@pytest.fixture
def detections_120(conn, spark, tmp_path):
    imp = write_importance(tmp_path / "imp.csv", [("X", "Y", "1")])
    load_weights(conn, lambda: spark, str(imp), md5_file(imp))
    _emit_child_detections(conn, spark, tmp_path, 0, range(120))


def _read(store, key):
    return list(csv.reader(io.StringIO(store.get(key).decode())))


@pytest.mark.usefixtures("detections_120")
def test_only_full_files_are_written_until_the_stream_ends(conn, store):
    written = write_detection_files(conn, store, "detections", through_chunk=0)
    assert [w.key for w in written] == [detection_file_key("detections", n) for n in (0, 1)]
    assert [w.rows for w in written] == [50, 50]
    final = write_detection_files(conn, store, "detections", through_chunk=0, final=True)
    assert [(w.key, w.rows) for w in final] == [("detections/detections-000002.csv", 20)]
    assert store.list_keys("detections") == [
        "detections/detections-000000.csv",
        "detections/detections-000001.csv",
        "detections/detections-000002.csv",
    ]


@pytest.mark.usefixtures("detections_120")
def test_every_detection_is_in_exactly_one_file_in_detection_order(conn, store):
    write_detection_files(conn, store, "detections", through_chunk=0, final=True)
    rows = []
    for key in store.list_keys("detections"):
        content = _read(store, key)
        assert tuple(content[0]) == DETECTION_HEADER
        rows.extend(content[1:])
    customers = [r[4] for r in rows]
    assert customers == [f"C{c:04d}" for c in range(120)]
    assert {r[2] for r in rows} == {"PatId2"} and {r[3] for r in rows} == {"CHILD"}
    assert len({r[0] for r in rows}) == 1, "YStartTime is the same on every row"
    assert rows[0][0].endswith("+05:30") and rows[0][1].endswith("+05:30")


@pytest.mark.usefixtures("detections_120")
def test_rerun_writes_nothing_new(conn, store):
    write_detection_files(conn, store, "detections", through_chunk=0, final=True)
    before = {k: store.get(k) for k in store.list_keys("detections")}
    assert write_detection_files(conn, store, "detections", through_chunk=0, final=True) == []
    assert {k: store.get(k) for k in store.list_keys("detections")} == before


@pytest.mark.usefixtures("detections_120")
def test_crash_after_write_before_record_is_completed_by_the_rerun(conn, store):
    write_detection_files(conn, store, "detections", through_chunk=0)
    conn.execute("DELETE FROM txn.detection_file WHERE file_number = 1")
    conn.commit()
    again = write_detection_files(conn, store, "detections", through_chunk=0)
    assert [(w.file_number, w.outcome) for w in again] == [(1, PutOutcome.IDENTICAL)]
    assert conn.execute("SELECT count(*) FROM txn.detection_file").fetchone()[0] == 2


@pytest.mark.usefixtures("detections_120")
def test_files_fill_across_chunks(conn, spark, store, tmp_path):
    write_detection_files(conn, store, "detections", through_chunk=0)
    _emit_child_detections(conn, spark, tmp_path, 1, range(120, 150))
    written = write_detection_files(conn, store, "detections", through_chunk=1)
    assert [(w.file_number, w.rows) for w in written] == [(2, 50)]
    customers = [r[4] for r in _read(store, "detections/detections-000002.csv")[1:]]
    assert customers == [f"C{c:04d}" for c in range(100, 150)]


def test_final_flush_must_name_the_last_applied_chunk(conn, spark, store, detections_120, tmp_path):
    _emit_child_detections(conn, spark, tmp_path, 1, range(120, 121))
    with pytest.raises(ValueError, match="not the last applied chunk"):
        write_detection_files(conn, store, "detections", through_chunk=0, final=True)


@pytest.mark.usefixtures("detections_120")
def test_files_keep_exactly_the_six_output_columns_while_detections_carry_evidence(conn, store):
    stored = conn.execute("SELECT count(*) FILTER (WHERE evidence IS NOT NULL) FROM txn.detection")
    assert stored.fetchone()[0] == 120
    write_detection_files(conn, store, "detections", through_chunk=0, final=True)
    for key in store.list_keys("detections"):
        assert {len(row) for row in _read(store, key)} == {len(DETECTION_HEADER)} == {6}
