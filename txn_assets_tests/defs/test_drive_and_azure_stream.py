"""The whole stream with Drive as the source and Azurite as the store equals the local default."""

from __future__ import annotations

import csv
import io

import dagster as dg
import pytest

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.ingestion.jobs import mechanism_x_job
from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.sources import GoogleDriveSourceResource
from txn_assets_tests.defs.conftest import ALL_ASSETS, load_weights_asset


def _run_stream(instance, resources) -> list[tuple[str, ...]]:
    """X to the end of the source, then Y over the whole range; the detection rows, in file order."""
    defs = dg.Definitions(jobs=[mechanism_x_job], resources=resources)
    config = {"ops": {"produce_chunks": {"config": {"interval_seconds": 0}}}}
    assert (
        defs.resolve_job_def("mechanism_x_job")
        .execute_in_process(instance=instance, run_config=config)
        .success
    )
    load_weights_asset(instance, resources)
    keys = instance.get_dynamic_partitions("chunks")
    result = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(apply_chunks, detection_files),
        instance=instance,
        resources=resources,
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
    )
    assert result.success
    output = resources["stores"].output()
    rows = []
    for key in output.list_keys(resources["stores"].output_prefix):
        rows.extend(
            tuple(r[2:]) for r in list(csv.reader(io.StringIO(output.get(key).decode())))[1:]
        )
    return rows


@pytest.mark.slow
def test_drive_source_and_azure_store_give_the_local_runs_detections(
    resources,
    source_files,
    drive_server,
    service_account_key,
    azure_store_resource,
    second_database,
):
    with dg.instance_for_test() as local_instance:
        local_rows = _run_stream(local_instance, resources)

    drive_server.add("tx", "transactions.csv", "folder", source_files.transactions.read_bytes())
    drive_server.add(
        "imp", "CustomerImportance.csv", "folder", source_files.importance.read_bytes()
    )
    cloud = {
        **resources,
        "postgres": PostgresResource(url=second_database),
        "stores": azure_store_resource,
        "source": GoogleDriveSourceResource(
            chunk_rows=1_000,
            transactions_file="transactions.csv",
            importance_file="CustomerImportance.csv",
            folder_id="folder",
            credentials=service_account_key[0],
            api_endpoint=drive_server.api_endpoint,
            token_uri=drive_server.token_uri,
        ),
    }
    with dg.instance_for_test() as cloud_instance:
        cloud_rows = _run_stream(cloud_instance, cloud)

    assert len(local_rows) > 50
    assert cloud_rows == local_rows
    staged = azure_store_resource.staging().list_keys("staging")
    assert staged[-1] == "staging/chunk-000005.csv" and "staging/_stream_end.json" in staged
