"""The new-chunk sensor, evaluated against a real instance and a real staging store."""

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from txn_assets.defs.detection.sensors import new_chunk_sensor, new_contiguous_chunks
from txn_assets_tests.defs.conftest import stage_chunks


def _tick(instance, resources, cursor=None):
    context = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"stores": resources["stores"]}
    )
    return new_chunk_sensor(context)


def test_several_new_chunks_become_one_range_run_and_new_partitions(instance, resources):
    stage_chunks(resources, 3)
    result = _tick(instance, resources)
    assert isinstance(result, dg.SensorResult)
    (run,) = result.run_requests
    assert (run.tags[ASSET_PARTITION_RANGE_START_TAG], run.tags[ASSET_PARTITION_RANGE_END_TAG]) == (
        "000000",
        "000002",
    )
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == "chunks" and list(add.partition_keys) == [
        "000000",
        "000001",
        "000002",
    ]
    assert result.cursor == "2"


def test_no_new_chunk_requests_nothing(instance, resources):
    assert isinstance(_tick(instance, resources), dg.SkipReason)
    stage_chunks(resources, 2)
    assert isinstance(_tick(instance, resources, cursor="1"), dg.SkipReason)


def test_next_tick_requests_only_chunks_after_the_cursor_and_known_partitions_are_not_re_added(
    instance, resources
):
    stage_chunks(resources, 4)
    instance.add_dynamic_partitions("chunks", ["000002"])
    result = _tick(instance, resources, cursor="1")
    (run,) = result.run_requests
    assert (run.tags[ASSET_PARTITION_RANGE_START_TAG], run.tags[ASSET_PARTITION_RANGE_END_TAG]) == (
        "000002",
        "000003",
    )
    (add,) = result.dynamic_partitions_requests
    assert list(add.partition_keys) == ["000003"]
    assert result.cursor == "3"


def test_a_gap_stops_the_range_before_it():
    assert new_contiguous_chunks([0, 1, 2, 4, 5], cursor=0) == [1, 2]
    assert new_contiguous_chunks([3, 4], cursor=1) == []
