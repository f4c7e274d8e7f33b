"""The code location loads: a broken import or wiring fails here first."""

import json
import os
import subprocess
import sys

import dagster as dg
import pytest

from txn_assets.definitions import defs


def test_definitions_load_with_every_job_sensor_and_asset():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {
        "transactions_file",
        "importance_file",
        "customer_weights",
        "staged_chunk",
        "pattern_state",
        "chunk_detections",
        "detection_files",
        "stream_report",
    }
    jobs = ("mechanism_x_job", "mechanism_y_job", "customer_weights_job", "stream_checks_job")
    for name in (*jobs, "stream_report_job"):
        assert defs.resolve_job_def(name).name == name
    sensor = defs.resolve_sensor_def("new_chunk_sensor")
    assert {target.job_name for target in sensor.targets} == {
        "mechanism_y_job",
        "customer_weights_job",
        "chunk_check_job",
    }
    schedule = defs.resolve_schedule_def("stream_checks_schedule")
    assert schedule.job_name == "stream_checks_job"


def test_mechanism_y_runs_no_stream_checks_and_the_checks_job_runs_them_all():
    y_nodes = {node.name for node in defs.resolve_job_def("mechanism_y_job").nodes}
    assert y_nodes == {"apply_chunks", "detection_files"}
    check_nodes = {node.name for node in defs.resolve_job_def("stream_checks_job").nodes}
    assert check_nodes == {
        "detection_files_detection_files_complete",
        "pattern_state_merchant_totals_match",
        "pattern_state_chunks_applied_within_lag",
        "pattern_state_quarantine_share",
    }


def test_lineage_runs_from_the_source_to_the_detection_files():
    graph = defs.resolve_asset_graph()
    parents = {
        k.to_user_string(): {p.to_user_string() for p in graph.get(k).parent_keys}
        for k in graph.get_all_asset_keys()
    }
    assert parents["staged_chunk"] == {"transactions_file"}
    assert parents["customer_weights"] == {"importance_file"}
    assert parents["pattern_state"] == {"staged_chunk", "customer_weights"}
    assert parents["chunk_detections"] == {"pattern_state"}
    assert parents["detection_files"] == {"chunk_detections"}
    assert parents["stream_report"] == {"chunk_detections", "detection_files"}


def test_chunk_assets_share_one_dynamic_partitioning_and_run_ranges_in_one_run():
    graph = defs.resolve_asset_graph()
    for name in ("staged_chunk", "pattern_state", "chunk_detections", "detection_files"):
        node = graph.get(dg.AssetKey(name))
        assert isinstance(node.partitions_def, dg.DynamicPartitionsDefinition)
        assert node.partitions_def.name == "chunks"
        assert node.backfill_policy == dg.BackfillPolicy.single_run()


def test_every_asset_says_what_it_is_who_owns_it_and_which_technology_holds_it():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        spec = graph.get(key)
        name = key.to_user_string()
        assert spec.description and len(spec.description) > 40, name
        assert spec.owners == ["team:txn-data-platform"], name
        assert spec.group_name in {"source", "ingestion", "detection", "report"}, name
        assert spec.kinds, f"{name} shows no technology on the graph"
    # The default environment is a local folder and local files: the graph does not say Azure.
    assert graph.get(dg.AssetKey("staged_chunk")).kinds == {"csv", "filesystem"}
    assert graph.get(dg.AssetKey("pattern_state")).kinds == {"spark", "postgres"}


# A fresh interpreter: which SDKs importing the definitions loads for a deployment's settings.
LOADED_SDKS = """
import json, sys
from txn_assets.definitions import defs
stores = type(defs.resources["stores"]).__name__
azure = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("azure", "dagster_azure")})
print(json.dumps([stores, azure]))
"""


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("local", ["LocalStoreResource", []]),
        ("azure", ["AzureBlobStoreResource", ["azure", "dagster_azure"]]),
    ],
)
def test_only_a_deployment_on_azure_blob_imports_the_azure_sdk(store, expected, tmp_path):
    """Every run process imports the definitions: the Azure SDK costs it ~0.7 s for nothing."""
    env = {
        **os.environ,
        "TXN_HOME": str(tmp_path),
        "TXN_STORE": store,
        "AZURE_STORAGE_ACCOUNT_URL": "http://127.0.0.1:1/account",
    }
    child = subprocess.run(
        [sys.executable, "-c", LOADED_SDKS], env=env, capture_output=True, text=True, timeout=300
    )

    assert child.returncode == 0, child.stderr
    assert json.loads(child.stdout.strip().splitlines()[-1]) == expected
