"""A dirty source file streamed end to end: every row is applied or quarantined, nothing stops.

The same file goes through the local store and through Azurite; both give the detections of an
independent recomputation over the chunks Mechanism X staged.
"""

from __future__ import annotations

import csv
import io

import dagster as dg
import pytest

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.ingestion.jobs import mechanism_x_job
from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from txn_assets.lib.rules import DetectionRules
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.sources import LocalFileSourceResource
from txn_assets_tests.defs.conftest import ALL_ASSETS, SMALL_RULES, load_weights_asset
from txn_assets_tests.dirty_data import make_dirty
from txn_assets_tests.reference import Reference, load_weights

REASONS = {
    "too few fields": "expected 10 fields, got 3",
    "non-numeric amount": "amount is not a number: twelve",
    "negative amount": "amount is negative: -12.50",
    "absurd amount": "amount is absurdly large: 99999999999 (more than 1,000,000,000)",
    "empty customer": "empty customer",
    "empty merchant": "empty merchant",
    "NUL byte": "contains a NUL byte",
    "invalid UTF-8": "not valid UTF-8",
}
CHUNK_ROWS = 1_000


@pytest.fixture
def dirty(source_files, tmp_path):
    return make_dirty(source_files.transactions, source_files.importance, tmp_path / "dirty")


def _stream(instance, resources) -> list[tuple[str, ...]]:
    defs = dg.Definitions(jobs=[mechanism_x_job], resources=resources)
    config = {"ops": {"produce_chunks": {"config": {"interval_seconds": 0}}}}
    assert (
        defs.resolve_job_def("mechanism_x_job")
        .execute_in_process(instance=instance, run_config=config)
        .success
    )
    load_weights_asset(instance, resources)
    keys = instance.get_dynamic_partitions("chunks")
    assert dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(apply_chunks, detection_files),
        instance=instance,
        resources=resources,
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
    ).success
    output = resources["stores"].output()
    rows = []
    for key in output.list_keys(resources["stores"].output_prefix):
        rows.extend(
            tuple(r[2:]) for r in list(csv.reader(io.StringIO(output.get(key).decode())))[1:]
        )
    return rows


def _dirty_resources(resources, dirty):
    # New resources, not model_copy: Dagster builds a run's resources from their config.
    source = LocalFileSourceResource(
        transactions_path=str(dirty.transactions),
        importance_path=str(dirty.importance),
        chunk_rows=CHUNK_ROWS,
    )
    return {**resources, "source": source}


@pytest.mark.slow
def test_a_dirty_file_streams_to_the_end_with_every_row_accounted_for(
    instance, resources, dirty, azure_store_resource, second_database, tmp_path
):
    local = _dirty_resources(resources, dirty)
    rows = _stream(instance, local)

    with local["postgres"].connect() as conn:
        ledger = conn.execute(
            "SELECT count(*) FILTER (WHERE status = 'applied'), sum(valid_rows), "
            "sum(quarantined_rows), sum(unknown_gender_rows) FROM txn.applied_chunk"
        ).fetchone()
        quarantined = conn.execute(
            "SELECT chunk_index, row_number, reason, raw_bytes FROM txn.quarantine "
            "WHERE source = 'transactions' ORDER BY chunk_index, row_number"
        ).fetchall()
        importance_bad = conn.execute(
            "SELECT count(*) FROM txn.quarantine WHERE source = 'importance'"
        ).fetchone()[0]
    data_rows = dirty.data_lines - len(dirty.blank_lines)
    assert ledger == (6, data_rows - len(dirty.bad_lines), len(dirty.bad_lines), 1)
    lines = dirty.transactions.read_bytes().split(b"\n")
    assert [(c, n, reason, bytes(raw)) for c, n, reason, raw in quarantined] == [
        (
            (position - 1) // CHUNK_ROWS,
            (position - 1) % CHUNK_ROWS + 1,
            REASONS[kind],
            lines[position],  # the line's exact bytes, its CR included
        )
        for position, kind in sorted(dirty.bad_lines.items())
    ]
    assert importance_bad == 2

    staged = sorted((tmp_path / "blob" / "staging").glob("chunk-*.csv"))
    reference = Reference(load_weights(dirty.importance), DetectionRules(**SMALL_RULES))
    expected = [d for chunk in staged for d in reference.add_chunk(chunk)]
    got = [(r[0], r[2], r[3]) for r in rows]
    assert got == expected and len(got) > 50

    with dg.instance_for_test() as azure_instance:
        azure = {
            **local,
            "stores": azure_store_resource,
            "postgres": PostgresResource(url=second_database),
        }
        assert _stream(azure_instance, azure) == rows
