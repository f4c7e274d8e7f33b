"""Each stream check passes on a healthy stream and goes red when what is stored is wrong."""

from __future__ import annotations

import dagster as dg
import pytest

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.detection.checks import STREAM_CHECKS, stream_checks_job
from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from txn_assets.resources.sources import LocalFileSourceResource
from txn_assets_tests.defs.conftest import ALL_ASSETS, load_weights_asset, stage_chunks

NO_GRACE = {"ops": {"detection_files_detection_files_complete": {"config": {"grace_seconds": 0}}}}


def _checks(instance, resources, run_config=None) -> dict[str, dg.AssetCheckEvaluation]:
    defs = dg.Definitions(
        assets=ALL_ASSETS, asset_checks=STREAM_CHECKS, jobs=[stream_checks_job], resources=resources
    )
    result = defs.resolve_job_def("stream_checks_job").execute_in_process(
        instance=instance, run_config=run_config or NO_GRACE
    )
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _stream(instance, resources, chunks: int) -> None:
    load_weights_asset(instance, resources)
    stage_chunks(resources, chunks)
    keys = [f"{i:06d}" for i in range(chunks)]
    instance.add_dynamic_partitions("chunks", keys)
    assert dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(apply_chunks, detection_files),
        instance=instance,
        resources=resources,
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
    ).success


def _sql(resources, statement: str) -> None:
    with resources["postgres"].connect() as conn:
        conn.execute(statement)  # type: ignore[arg-type]
        conn.commit()


@pytest.fixture
def streamed(instance, resources):
    """The whole 6-chunk stream applied, every detection in files."""
    _stream(instance, resources, 6)


@pytest.mark.usefixtures("streamed")
def test_a_healthy_stream_passes_every_check(instance, resources):
    checks = _checks(instance, resources)
    assert {name: e.passed for name, e in checks.items()} == {
        "detection_files_complete": True,
        "merchant_totals_match": True,
        "chunks_applied_within_lag": True,
        "quarantine_share": True,
    }
    assert checks["detection_files_complete"].metadata["files"].value >= 2


@pytest.mark.usefixtures("streamed")
def test_a_detection_file_changed_in_the_store_turns_the_file_check_red(instance, resources):
    path = resources["stores"].output().uri("detections/detections-000001.csv")
    with open(path, "ab") as handle:
        handle.write(b"forged,row\n")
    check = _checks(instance, resources)["detection_files_complete"]
    assert not check.passed
    assert "file 1 in the store differs from its recorded md5" in check.description


@pytest.mark.usefixtures("streamed")
def test_a_lost_file_record_turns_the_file_check_red(instance, resources):
    _sql(resources, "DELETE FROM txn.detection_file WHERE file_number = 0")
    check = _checks(instance, resources)["detection_files_complete"]
    assert not check.passed
    assert check.description.startswith("file 1 covers seq 50..")
    assert check.description.endswith("the files before it end at -1")


@pytest.mark.usefixtures("streamed")
def test_merchant_totals_that_drifted_from_the_ledger_turn_the_totals_check_red(
    instance, resources
):
    _sql(
        resources,
        "UPDATE txn.merchant SET txn_count = txn_count + 1 WHERE merchant = (SELECT min(merchant) FROM txn.merchant)",
    )
    check = _checks(instance, resources)["merchant_totals_match"]
    assert not check.passed
    assert "but the applied chunks had" in check.description


def test_a_stalled_mechanism_y_turns_the_lag_check_red(instance, resources):
    _stream(instance, resources, 2)
    stage_chunks(resources, 1)  # chunk 2 staged, no run applies it
    assert _checks(instance, resources)["chunks_applied_within_lag"].passed
    _sql(
        resources,
        "UPDATE txn.staged_chunk SET staged_at = now() - interval '10 minutes' WHERE chunk_index = 2",
    )
    check = _checks(instance, resources)["chunks_applied_within_lag"]
    assert not check.passed
    assert check.description.startswith("chunk 000002 was staged 60")  # 600 s, or a second more
    assert "is not applied (1 chunks waiting; the limit is 120s)" in check.description


def test_many_quarantined_rows_make_the_quarantine_check_warn(
    instance, resources, source_files, tmp_path
):
    # A source where every other row lost its amount: half the rows end up in quarantine.
    header, *rows = source_files.transactions.read_text().splitlines()
    broken = [row.rsplit(",", 2)[0] + ",oops,0" if i % 2 else row for i, row in enumerate(rows)]
    dirty = tmp_path / "dirty.csv"
    dirty.write_text("\n".join([header, *broken]) + "\n")
    source = resources["source"]
    resources = {
        **resources,
        "source": LocalFileSourceResource(
            transactions_path=str(dirty),
            importance_path=source.importance_path,
            chunk_rows=source.chunk_rows,
        ),
    }
    _stream(instance, resources, 2)
    check = _checks(instance, resources)["quarantine_share"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert check.description == "50.00% of rows quarantined (more than 1.00%)"
