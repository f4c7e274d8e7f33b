"""A kept connection: reads share one connection, and a connection the server dropped is replaced."""

import psycopg
import pytest

from txn_assets.lib.kept_connection import KeptConnection


def _backend(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


def test_reads_share_one_connection(database_url):
    kept = KeptConnection(database_url)
    try:
        assert len({kept.read(_backend) for _ in range(5)}) == 1
    finally:
        kept.close()


def test_a_connection_the_server_dropped_is_replaced_by_the_next_read(
    database_url, postgres_admin_url
):
    kept = KeptConnection(database_url)
    try:
        first = kept.read(_backend)
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first,))
        second = kept.read(_backend, patience_s=5)
        assert second != first
        assert kept.read(_backend) == second
    finally:
        kept.close()


def test_without_patience_an_unreachable_database_raises_at_once(database_url):
    refused = database_url.replace(database_url.split("@", 1)[1].split("/")[0], "127.0.0.1:1")
    kept = KeptConnection(refused, connect_timeout=2)
    with pytest.raises(psycopg.OperationalError):
        kept.read(_backend)
