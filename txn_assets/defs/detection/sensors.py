"""The new-chunk sensor: spots staged chunks and launches one Mechanism Y run per tick."""

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from txn_assets.defs.detection.jobs import mechanism_y_job
from txn_assets.defs.partitions import CHUNKS, chunk_partitions
from txn_assets.lib.chunks import chunk_index_from_file_name, chunk_key
from txn_assets.resources.stores import StoreResource


def new_contiguous_chunks(staged: list[int], cursor: int) -> list[int]:
    """Staged chunk indexes after the cursor, up to the first gap (chunks apply in order)."""
    available = set(staged)
    found = []
    index = cursor + 1
    while index in available:
        found.append(index)
        index += 1
    return found


@dg.sensor(
    job=mechanism_y_job,
    minimum_interval_seconds=5,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="New staged chunks -> add partitions and request one range run of Mechanism Y.",
)
def new_chunk_sensor(
    context: dg.SensorEvaluationContext, stores: StoreResource
) -> dg.SensorResult | dg.SkipReason:
    """The cursor is the last chunk index requested; each tick requests every newer chunk at once."""
    cursor = int(context.cursor) if context.cursor else -1
    keys = stores.staging().list_keys(stores.staging_prefix)
    staged = [i for i in (chunk_index_from_file_name(k) for k in keys) if i is not None]
    new = new_contiguous_chunks(staged, cursor)
    if not new:
        return dg.SkipReason(f"no staged chunk after {cursor}")
    new_keys = [chunk_key(i) for i in new]
    known = set(context.instance.get_dynamic_partitions(CHUNKS))
    missing = [k for k in new_keys if k not in known]
    first, last = new_keys[0], new_keys[-1]
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"chunks-{first}-{last}",
                tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
            )
        ],
        dynamic_partitions_requests=[chunk_partitions.build_add_request(missing)]
        if missing
        else [],
        cursor=str(new[-1]),
    )
