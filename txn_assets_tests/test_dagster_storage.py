"""Dagster's storage from dagster.yaml keeps one connection for many writes, as configured."""

from __future__ import annotations

import shutil

import dagster as dg
import pytest
import sqlalchemy

from txn_assets.dagster_storage import PooledPostgresEventLogStorage, PooledPostgresRunStorage
from txn_assets.stack import PROJECT_ROOT, database_url_for


@pytest.fixture
def dagster_url(database_url):
    return database_url_for(
        database_url, database_url.rsplit("/", 1)[1].split("?")[0], "postgresql+psycopg2"
    )


def _connects(engine: sqlalchemy.engine.Engine) -> list[object]:
    opened: list[object] = []
    sqlalchemy.event.listen(engine, "connect", lambda connection, record: opened.append(record))
    return opened


def _write_events(instance: dg.DagsterInstance, count: int) -> None:
    run = instance.create_run_for_job(dg.GraphDefinition(name="noop").to_job())
    for number in range(count):
        instance.report_engine_event(f"event {number}", run)


def test_the_projects_dagster_yaml_uses_the_pooled_storages(tmp_path, dagster_url, monkeypatch):
    monkeypatch.setenv("TXN_DAGSTER_PG_URL", dagster_url)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert isinstance(instance.event_log_storage, PooledPostgresEventLogStorage)
        assert isinstance(instance.run_storage, PooledPostgresRunStorage)
        opened = _connects(instance.event_log_storage._engine)
        _write_events(instance, 30)

    # dagster-postgres's own storage opens one per event (30 here).
    assert len(opened) <= 2, f"{len(opened)} connections opened for 30 events"
