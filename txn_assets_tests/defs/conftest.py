"""Dagster-level fixtures: a real (temporary) instance and resources on the test's services."""

from __future__ import annotations

import uuid
from typing import Any

import dagster as dg
import psycopg
import pytest
from dagster_pyspark import LazyPySparkResource
from psycopg import sql

from txn_assets.definitions import ASSETS
from txn_assets.defs.source.assets import customer_weights
from txn_assets.lib.generate import generate
from txn_assets.lib.producer import cut_next_chunk
from txn_assets.lib.spark_session import spark_config
from txn_assets.lib.state.migrate import migrate
from txn_assets.resources.automation import AutomationResource
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.rules import RulesResource
from txn_assets.resources.sources import LocalFileSourceResource
from txn_assets.resources.stores import LocalStoreResource
from txn_assets.stack import database_url_for

ALL_ASSETS = ASSETS
# Scaled to 6,000 rows in 1,000-row chunks so that every pattern can fire.
SMALL_RULES = dict(upgrade_min_merchant_txns=1_500, child_min_txns=5, dei_min_female_customers=10)


@pytest.fixture
def instance():
    with dg.instance_for_test() as test_instance:
        yield test_instance


@pytest.fixture
def source_files(tmp_path):
    return generate(tmp_path / "source", rows=6_000, seed=21)


@pytest.fixture
def resources(database_url, tmp_path, source_files, spark, spark_log) -> dict[str, Any]:
    """The production resource classes on the test's services (the session's Spark is reused)."""
    return {
        "postgres": PostgresResource(url=database_url),
        "spark": LazyPySparkResource(spark_config=spark_config(log_file=str(spark_log))),
        "stores": LocalStoreResource(
            root=str(tmp_path / "blob"), scratch_dir=str(tmp_path / "scratch")
        ),
        "source": LocalFileSourceResource(
            transactions_path=str(source_files.transactions),
            importance_path=str(source_files.importance),
            chunk_rows=1_000,
        ),
        "rules": RulesResource(**SMALL_RULES),
        # A tick decides once here; tests of the sensor's looking again set their own.
        "automation": AutomationResource(look_again_seconds=0),
    }


def stage_chunks(resources: dict[str, Any], count: int) -> list[int]:
    """Mechanism X's core, called directly: stage the next `count` chunks."""
    stores, source = resources["stores"], resources["source"]
    staged = []
    with resources["postgres"].connect() as conn:
        for _ in range(count):
            chunk = cut_next_chunk(
                conn,
                source.transactions(),
                stores.staging(),
                stores.staging_prefix,
                source.chunk_rows,
            )
            assert chunk is not None
            staged.append(chunk.index)
    return staged


def load_weights_asset(instance: dg.DagsterInstance, resources: dict[str, Any]) -> None:
    result = dg.materialize(
        ALL_ASSETS, selection=[customer_weights], instance=instance, resources=resources
    )
    assert result.success


@pytest.fixture
def second_database(postgres_admin_url):
    """A second migrated database on the same server, for a second stream in one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url_for(postgres_admin_url, name)
    migrate(url)
    yield url
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
