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
from txn_assets.stack import database_url_for


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


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A fresh, migrated database per test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = database_url_for(postgres_admin_url, name)
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
def spark_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests' Spark JVM logs (kept as a test artifact, never on the console)."""
    return tmp_path_factory.mktemp("logs") / "spark.log"


@pytest.fixture(scope="session")
def spark(spark_log: Path) -> Any:
    """One classic local SparkSession for the whole run, as production reuses one per process."""
    from txn_assets.lib.spark_session import build_spark_session

    session = build_spark_session(log_file=str(spark_log))
    yield session
    session.stop()


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A per-test folder for files the test writes."""
    return tmp_path


@pytest.fixture(scope="session")
def azurite() -> Iterator[Any]:
    """A real Azurite Blob service (npm azurite, pinned in package.json) for the whole session."""
    from txn_assets.lib.services.azurite import start_azurite

    server = start_azurite()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def azure_store_resource(azurite: Any, tmp_path: Path) -> Any:
    """The Azure Blob store resource on Azurite, with containers unique to the test."""
    from dagster_azure.blob import AzureBlobStorageKeyCredential, AzureBlobStorageResource

    from txn_assets.lib.services.azurite import ACCOUNT_KEY
    from txn_assets.resources.azure_store import AzureBlobStoreResource

    suffix = uuid.uuid4().hex[:10]
    return AzureBlobStoreResource(
        blob_storage=AzureBlobStorageResource(
            account_url=azurite.account_url,
            credential=AzureBlobStorageKeyCredential(key=ACCOUNT_KEY),
        ),
        staging_container=f"staging-{suffix}",
        output_container=f"output-{suffix}",
        scratch_dir=str(tmp_path / "scratch"),
    )


@pytest.fixture(scope="session")
def service_account_key() -> tuple[str, bytes]:
    """A locally generated service-account key: (JSON content, public key PEM)."""
    import json

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = {
        "type": "service_account",
        "project_id": "txn-assets-test",
        "private_key_id": "k1",
        "private_key": private_pem,
        "client_email": "stream@txn-assets-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    return json.dumps(info), public_pem


@pytest.fixture
def drive_server(service_account_key: tuple[str, bytes]) -> Iterator[Any]:
    """A Drive-v3-compatible server on loopback (the fake at Google's edge)."""
    from txn_assets_tests.drive_server import DriveTestServer

    with DriveTestServer(service_account_key[1]) as server:
        yield server


@pytest.fixture
def fresh_server_databases(postgres_admin_url):
    """`run` creates databases txn and dagster on the server it is given; start without them."""
    with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
        for name in ("txn", "dagster"):
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    yield postgres_admin_url


@pytest.fixture(scope="session")
def e2e_files(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The end-to-end tests' stream: 12,000 rows in 1,000-row chunks (every pattern fires
    under the scaled rules of devstack.E2E_RULES)."""
    from txn_assets.lib.generate import generate

    return generate(tmp_path_factory.mktemp("e2e") / "source", rows=12_000, seed=17)


@pytest.fixture(scope="session")
def e2e_reference_home(e2e_files: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The home of an undisturbed `txn-assets run` of that stream (classic local Spark, its own
    embedded PostgreSQL): the reference every other path (dev, faults, engines) must equal."""
    from txn_assets_tests.devstack import cli, source_args, stream_env

    home = tmp_path_factory.mktemp("reference") / "home"
    given = ("DATABASE_URL", "TXN_SPARK_REMOTE", "TXN_SPARK_MASTER")
    env = {k: v for k, v in os.environ.items() if k not in given}
    done = cli(
        "run", "--home", str(home), "--interval", "0", *source_args(e2e_files),
        env={**env, **stream_env()},
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return home
