"""Mechanism Y's assets materialised in process: ranges apply in order, reruns change nothing."""

import csv
import io
from pathlib import Path

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from txn_assets.lib.rules import DetectionRules
from txn_assets.lib.stores.local import LocalFolderStore
from txn_assets_tests.chunking import cut_chunks
from txn_assets_tests.defs.conftest import ALL_ASSETS, SMALL_RULES, load_weights_asset, stage_chunks
from txn_assets_tests.reference import Reference, load_weights


def _materialise_range(instance, resources, first, last):
    return dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(apply_chunks, detection_files),
        instance=instance,
        resources=resources,
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
        raise_on_error=False,
    )


def _prepare(instance, resources, chunks):
    load_weights_asset(instance, resources)
    indexes = stage_chunks(resources, chunks)
    instance.add_dynamic_partitions("chunks", [f"{i:06d}" for i in indexes])


def _state(conn):
    snap = {
        t: conn.execute(f"SELECT * FROM txn.{t} ORDER BY 1").fetchall()
        for t in ("merchant_customer", "applied_chunk", "detection", "detection_file", "quarantine")
    }
    conn.commit()
    return snap


def test_a_range_run_applies_its_chunks_in_order_and_matches_the_reference(
    instance, resources, source_files, tmp_path
):
    _prepare(instance, resources, 6)
    result = _materialise_range(instance, resources, "000000", "000005")
    assert result.success
    with resources["postgres"].connect() as conn:
        applied = conn.execute(
            "SELECT chunk_index FROM txn.applied_chunk ORDER BY applied_at, chunk_index"
        ).fetchall()
        detections = conn.execute(
            "SELECT pattern_id, customer, merchant FROM txn.detection ORDER BY seq"
        ).fetchall()
    assert [r[0] for r in applied] == [0, 1, 2, 3, 4, 5]
    reference = Reference(load_weights(source_files.importance), DetectionRules(**SMALL_RULES))
    expected = [
        d
        for c in cut_chunks(source_files.transactions, 1_000, tmp_path / "ref")
        for d in reference.add_chunk(c)
    ]
    assert [tuple(d) for d in detections] == expected
    assert {d[0] for d in expected} == {"PatId1", "PatId2", "PatId3"}
    materialised = instance.get_materialized_partitions(dg.AssetKey("pattern_state"))
    assert materialised == {f"{i:06d}" for i in range(6)}


def test_the_last_chunk_flushes_every_detection_into_files_of_50(instance, resources):
    _prepare(instance, resources, 6)
    assert _materialise_range(instance, resources, "000000", "000005").success
    output = LocalFolderStore(Path(resources["stores"].root))
    rows = []
    for key in output.list_keys("detections"):
        rows.extend(list(csv.reader(io.StringIO(output.get(key).decode())))[1:])
    with resources["postgres"].connect() as conn:
        total = conn.execute("SELECT count(*) FROM txn.detection").fetchone()[0]
    assert len(rows) == total > 50
    sizes = [
        len(list(csv.reader(io.StringIO(output.get(k).decode())))) - 1
        for k in output.list_keys("detections")
    ]
    assert all(s == 50 for s in sizes[:-1]) and 0 < sizes[-1] <= 50


def test_rerunning_a_partition_changes_nothing(instance, resources):
    _prepare(instance, resources, 3)
    assert _materialise_range(instance, resources, "000000", "000002").success
    with resources["postgres"].connect() as conn:
        before = _state(conn)
    rerun = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(apply_chunks, detection_files),
        instance=instance,
        resources=resources,
        partition_key="000001",
    )
    assert rerun.success
    with resources["postgres"].connect() as conn:
        assert _state(conn) == before


def test_two_ranges_in_sequence_equal_one_range(instance, resources):
    _prepare(instance, resources, 4)
    assert _materialise_range(instance, resources, "000000", "000001").success
    assert _materialise_range(instance, resources, "000002", "000003").success
    with resources["postgres"].connect() as conn:
        assert [
            r[0] for r in conn.execute("SELECT chunk_index FROM txn.applied_chunk ORDER BY 1")
        ] == [0, 1, 2, 3]


def test_a_range_after_unapplied_chunks_applies_them_first_and_records_their_partitions(
    instance, resources
):
    _prepare(instance, resources, 5)
    # A failed run left 000000..000002 behind; the next range asks for 000003..000004 only.
    assert _materialise_range(instance, resources, "000003", "000004").success
    with resources["postgres"].connect() as conn:
        applied = [
            r[0] for r in conn.execute("SELECT chunk_index FROM txn.applied_chunk ORDER BY 1")
        ]
    assert applied == [0, 1, 2, 3, 4]
    for asset in ("pattern_state", "chunk_detections"):
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {
            f"{i:06d}" for i in range(5)
        }


def test_rerunning_applied_chunks_never_starts_spark(instance, resources):
    _prepare(instance, resources, 3)
    assert _materialise_range(instance, resources, "000000", "000002").success
    # Spark Connect on a port where nothing listens: any Spark work would fail the run.
    no_spark = {
        **resources,
        "spark": LazyPySparkResource(spark_config={"spark.remote": "sc://127.0.0.1:9"}),
    }
    again = _materialise_range(instance, no_spark, "000000", "000002")
    assert again.success
    events = [
        e.materialization
        for e in again.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("pattern_state")
    ]
    assert sorted(m.partition for m in events) == ["000000", "000001", "000002"]
    rows = events[0].metadata["per_chunk"].value.records
    assert [row.data["rerun"] for row in rows] == [True, True, True], "reported, unchanged"
    assert all(row.data["latency_s"] >= 0 for row in rows), "the first application's latency"


def test_a_chunk_that_is_not_staged_fails_clearly_and_changes_nothing(instance, resources):
    _prepare(instance, resources, 2)
    instance.add_dynamic_partitions("chunks", ["000005"])
    result = _materialise_range(instance, resources, "000005", "000005")
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "chunks [5] have not been staged yet" in failure.step_failure_data.error.message
    with resources["postgres"].connect() as conn:
        assert conn.execute("SELECT count(*) FROM txn.applied_chunk").fetchone()[0] == 0
