"""A chunk that cannot be read never stalls the stream: it is rejected, reported, and repairable."""

from __future__ import annotations

import os

import dagster as dg

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.detection.checks import chunk_accepted, chunk_check_job
from txn_assets.defs.detection.sensors import new_chunk_sensor
from txn_assets.defs.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from txn_assets_tests.defs.conftest import ALL_ASSETS, load_weights_asset, stage_chunks

Y_ASSETS = dg.AssetSelection.assets(apply_chunks, detection_files)


def _run_range(instance, resources, first: str, last: str, run_config=None):
    return dg.materialize(
        ALL_ASSETS,
        selection=Y_ASSETS,
        instance=instance,
        resources=resources,
        tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
        run_config=run_config,
    )


def _check(instance, resources, key: str) -> dg.AssetCheckEvaluation:
    defs = dg.Definitions(
        assets=ALL_ASSETS,
        asset_checks=[chunk_accepted],
        jobs=[chunk_check_job],
        resources=resources,
    )
    result = defs.resolve_job_def("chunk_check_job").execute_in_process(
        instance=instance, tags={PARTITION_TAG: key}
    )
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.partition == key
    return evaluation


def _ledger(resources) -> list[tuple[int, str]]:
    with resources["postgres"].connect() as conn:
        return conn.execute(
            "SELECT chunk_index, status FROM txn.applied_chunk ORDER BY 1"
        ).fetchall()


def test_a_truncated_chunk_is_rejected_reported_and_repaired(instance, resources, source_files):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 4)
    instance.add_dynamic_partitions("chunks", [f"{i:06d}" for i in range(4)])
    staged = resources["stores"].staging()
    path = staged.uri("staging/chunk-000001.csv")
    with open(path, "r+b") as handle:  # a disk hiccup cut the file short
        handle.truncate(5_000)

    assert _run_range(instance, resources, "000000", "000003").success
    assert _ledger(resources) == [(0, "applied"), (1, "rejected"), (2, "applied"), (3, "applied")]
    red = _check(instance, resources, "000001")
    assert not red.passed and "was rejected: the staged file's bytes differ" in red.description
    assert _check(instance, resources, "000002").passed

    # The sensor reports each rejected chunk once, with a check run for its partition.
    context = dg.build_sensor_context(
        instance=instance,
        resources={key: resources[key] for key in ("postgres", "source", "automation")},
    )
    first = new_chunk_sensor(context)
    assert [(r.job_name, r.tags[PARTITION_TAG]) for r in first.run_requests] == [
        ("chunk_check_job", "000001")
    ]
    context.update_cursor(first.cursor)
    assert isinstance(new_chunk_sensor(context), dg.SkipReason)

    # Repair, as the README says: re-stage the chunk, then re-apply it.
    assert dg.materialize(
        ALL_ASSETS,
        selection=["staged_chunk"],
        partition_key="000001",
        instance=instance,
        resources=resources,
    ).success
    reapply = {"ops": {"apply_chunks": {"config": {"reapply_rejected": True}}}}
    assert dg.materialize(
        ALL_ASSETS,
        selection=Y_ASSETS,
        partition_key="000001",
        instance=instance,
        resources=resources,
        run_config=reapply,
    ).success
    assert _ledger(resources) == [(0, "applied"), (1, "applied"), (2, "applied"), (3, "applied")]
    assert _check(instance, resources, "000001").passed
    with resources["postgres"].connect() as conn:
        counted = conn.execute("SELECT sum(txn_count) FROM txn.merchant").fetchone()[0]
        quarantined = conn.execute("SELECT count(*) FROM txn.quarantine").fetchone()[0]
    assert counted == 4_000 and quarantined == 0, "every row of the repaired chunk counts once"


def test_without_the_config_a_rerun_of_a_rejected_chunk_changes_nothing(instance, resources):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 2)
    instance.add_dynamic_partitions("chunks", ["000000", "000001"])
    os.remove(resources["stores"].staging().uri("staging/chunk-000000.csv"))  # deleted by hand
    assert _run_range(instance, resources, "000000", "000001").success
    assert _ledger(resources) == [(0, "rejected"), (1, "applied")]
    assert _run_range(instance, resources, "000000", "000000").success
    assert _ledger(resources) == [(0, "rejected"), (1, "applied")]
