"""The stream_report asset: one self-contained HTML file with every detection and its evidence."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from txn_assets.defs.report.assets import stream_report
from txn_assets.lib.chunks import chunk_key
from txn_assets_tests.defs.conftest import ALL_ASSETS, load_weights_asset, stage_chunks
from txn_assets_tests.report_html import detection_rows, external_references, images

DETECTIONS = "SELECT seq, action_type, evidence::text FROM txn.detection ORDER BY seq"
BY_PATTERN = "SELECT action_type, count(*) FROM txn.detection GROUP BY action_type"
LEDGER = "SELECT count(*), sum(valid_rows), sum(quarantined_rows) FROM txn.applied_chunk"


def _stream(instance, resources, chunks: int) -> None:
    load_weights_asset(instance, resources)
    keys = [chunk_key(i) for i in stage_chunks(resources, chunks)]
    instance.add_dynamic_partitions("chunks", keys)
    applied = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets(apply_chunks, detection_files),
        instance=instance,
        resources=resources,
        tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
    )
    assert applied.success


def test_the_report_asset_writes_one_offline_file_with_every_detection_and_its_evidence(
    instance, resources, tmp_path
):
    _stream(instance, resources, 6)
    folder = tmp_path / "report"
    result = dg.materialize(
        ALL_ASSETS,
        selection=[stream_report],
        instance=instance,
        resources=resources,
        run_config={"ops": {"stream_report": {"config": {"folder": str(folder)}}}},
    )
    assert result.success
    (materialisation,) = result.asset_materializations_for_node("stream_report")
    metadata = materialisation.metadata
    path = Path(metadata["path"].value)
    assert path == (folder / "stream-report.html").resolve() and path.is_file()
    assert metadata["url"].value == path.as_uri()

    with resources["postgres"].connect() as conn:
        stored = conn.execute(DETECTIONS).fetchall()
        by_pattern = dict(conn.execute(BY_PATTERN).fetchall())
        chunks, rows, quarantined = conn.execute(LEDGER).fetchone()
    assert set(by_pattern) == {"UPGRADE", "CHILD", "DEI-NEEDED"}, "the data must fire every pattern"
    assert metadata["detections"].value == len(stored)
    assert (metadata["chunks"].value, metadata["rows"].value) == (chunks, rows)
    assert metadata["quarantined_rows"].value == quarantined
    table = metadata["detections_by_pattern"].value
    assert all(f"| {action} | {n:,} |" in table for action, n in by_pattern.items())
    assert metadata["latency_p95_seconds"].value >= metadata["latency_p50_seconds"].value > 0

    text = path.read_text(encoding="utf-8")
    pngs = images(text)
    assert len(pngs) == 4 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert external_references(text) == []
    shown = detection_rows(text)
    assert sorted(shown) == [seq for seq, _, _ in stored], "one table row per stored detection"
    for seq, action, evidence in stored:
        cells = shown[seq]
        assert cells[3] == action
        values = json.loads(evidence, parse_float=Decimal)
        assert values, f"detection {seq} has no evidence"
        assert all(str(v) in cells[6] for v in values.values()), (values, cells[6])


def test_materialising_the_report_twice_replaces_the_file(instance, resources, tmp_path):
    _stream(instance, resources, 2)
    config = {"ops": {"stream_report": {"config": {"folder": str(tmp_path / "r")}}}}
    for _ in range(2):
        assert dg.materialize(
            ALL_ASSETS,
            selection=[stream_report],
            instance=instance,
            resources=resources,
            run_config=config,
        ).success
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["stream-report.html"]
    events = instance.fetch_materializations(dg.AssetKey("stream_report"), limit=10)
    assert len(events.records) == 2


def test_materialize_stream_report_uses_the_environments_settings_and_records_the_run(
    instance, database_url, tmp_path, monkeypatch
):
    from txn_assets.defs.report.assets import materialize_stream_report

    monkeypatch.setenv("TXN_DATABASE_URL", database_url)
    monkeypatch.setenv("TXN_REPORT_DIR", str(tmp_path / "reports"))
    path = materialize_stream_report(instance)
    assert path == (tmp_path / "reports" / "stream-report.html").resolve() and path.is_file()
    (record,) = instance.fetch_materializations(dg.AssetKey("stream_report"), limit=5).records
    assert record.asset_materialization.metadata["path"].value == str(path)
