"""Dagster's storage from dagster.yaml keeps one connection for many writes, as configured."""

from __future__ import annotations

import shutil
from collections.abc import Callable

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


def _statements(engine: sqlalchemy.engine.Engine, wanted: Callable[[str], bool]) -> list[str]:
    """A list that fills with the statements run on `engine` from now on that `wanted` accepts."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        if wanted(statement):
            seen.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", record)
    return seen


def _catalog_queries(engine: sqlalchemy.engine.Engine) -> list[str]:
    """The statements on `engine` that read the schema (pg_catalog / information_schema)."""
    return _statements(engine, lambda sql: "pg_catalog" in sql or "information_schema" in sql)


def _materialize(instance: dg.DagsterInstance, partition: str) -> None:
    # A data version is a tag Dagster indexes: storing it asks whether the tags table exists.
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "stream_asset", partition=partition, tags={"dagster/data_version": partition}
        )
    )


def test_materialisations_check_the_schema_once_and_reuse_their_connections(
    tmp_path, dagster_url, monkeypatch
):
    monkeypatch.setenv("TXN_DAGSTER_PG_URL", dagster_url)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")

    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        _materialize(instance, "first")  # the first checks the schema
        engine = instance.event_log_storage._engine
        catalog, opened = _catalog_queries(engine), _connects(engine)
        for number in range(20):
            _materialize(instance, f"p{number}")
        records = instance.fetch_materializations(dg.AssetKey("stream_asset"), limit=100).records

    assert len(records) == 21  # every materialisation was stored, tags and all
    assert catalog == [], f"{len(catalog)} schema queries for 20 materialisations"
    assert opened == [], f"{len(opened)} connections opened for 20 materialisations"


def _partition_queries(engine: sqlalchemy.engine.Engine) -> list[str]:
    """The statements on `engine` that ask whether one dynamic partition exists."""
    return _statements(
        engine,
        lambda sql: "FROM dynamic_partitions" in sql and "dynamic_partitions.partition =" in sql,
    )


def test_a_partition_known_to_exist_is_not_asked_again_until_deleted(
    tmp_path, dagster_url, monkeypatch
):
    monkeypatch.setenv("TXN_DAGSTER_PG_URL", dagster_url)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", tmp_path / "dagster.yaml")

    with (
        dg.DagsterInstance.from_config(str(tmp_path)) as instance,
        dg.DagsterInstance.from_config(str(tmp_path)) as other_process,
    ):
        asked = _partition_queries(instance.event_log_storage._engine)
        assert not instance.has_dynamic_partition("chunks", "000007")
        other_process.add_dynamic_partitions("chunks", ["000007"])
        answers = [instance.has_dynamic_partition("chunks", "000007") for _ in range(10)]
        assert answers == [True] * 10
        assert len(asked) == 2  # the no, then the first yes; the other yeses are remembered
        instance.delete_dynamic_partition("chunks", "000007")
        assert not instance.has_dynamic_partition("chunks", "000007")
        assert not other_process.has_dynamic_partition("chunks", "000007")
