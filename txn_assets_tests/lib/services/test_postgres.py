"""The embedded server's helpers: one database's commits may skip the wait for the disk."""

import uuid

import psycopg
from psycopg import sql

from txn_assets.lib.services.postgres import commit_without_waiting_for_disk, ensure_database
from txn_assets.stack import database_url_for


def _synchronous_commit(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute("SHOW synchronous_commit").fetchone()[0]


def test_only_the_named_database_commits_without_waiting_for_disk(postgres_admin_url):
    relaxed, kept = (f"t_{uuid.uuid4().hex[:12]}" for _ in range(2))
    try:
        for name in (relaxed, kept):
            ensure_database(postgres_admin_url, name)
        commit_without_waiting_for_disk(postgres_admin_url, relaxed)
        assert _synchronous_commit(database_url_for(postgres_admin_url, relaxed)) == "off"
        assert _synchronous_commit(database_url_for(postgres_admin_url, kept)) == "on"
    finally:
        with psycopg.connect(postgres_admin_url, autocommit=True) as admin:
            for name in (relaxed, kept):
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )
