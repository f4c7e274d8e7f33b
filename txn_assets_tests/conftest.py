"""Session-scoped real services: PostgreSQL (embedded unless DATABASE_URL is set) and Spark."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from txn_assets.lib.services.postgres import start_postgres, stop_postgres
from txn_assets.lib.state.migrate import migrate


@pytest.fixture(scope="session")
def postgres_admin_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL of a real server: the given DATABASE_URL, or one started for this session."""
    given = os.environ.get("DATABASE_URL")
    if given:
        yield given
        return
    data_dir = tmp_path_factory.mktemp("postgres") / "data"
    server = start_postgres(data_dir)
    try:
        yield server.url()
    finally:
        stop_postgres(data_dir)


def _with_database(admin_url: str, name: str) -> str:
    info = psycopg.conninfo.conninfo_to_dict(admin_url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo(**info)


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, migrated database per test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_database(postgres_admin_url, name)
    migrate(url)
    try:
        yield url
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection[Any]]:
    """A connection to the per-test database."""
    with psycopg.connect(database_url) as connection:
        yield connection


@pytest.fixture(scope="session")
def spark() -> Any:
    """One classic local SparkSession for the whole run, as production reuses one per process."""
    from txn_assets.lib.spark_session import build_spark_session

    session = build_spark_session()
    yield session
    session.stop()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A per-test folder for files the test writes."""
    return tmp_path
