"""Versioned schema migrations: numbered .sql files applied once each, in order."""

from __future__ import annotations

from importlib import resources

import psycopg

_LEDGER = """
CREATE TABLE IF NOT EXISTS public.txn_schema_migration (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
# Any fixed number: serialises concurrent migrators (a sensor and a run starting together).
_MIGRATION_LOCK = 7_042_001


def _migration_files() -> list[tuple[int, str, str]]:
    folder = resources.files("txn_assets.lib.state") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class SchemaNotCurrentError(RuntimeError):
    """The state database lacks migrations this code needs: run `txn-assets migrate` first."""


def _applied_versions(conn: psycopg.Connection) -> set[int]:
    exists = conn.execute("SELECT to_regclass('public.txn_schema_migration')").fetchone()
    if exists is None or exists[0] is None:
        return set()
    return {row[0] for row in conn.execute("SELECT version FROM public.txn_schema_migration")}


def check_current(conn: psycopg.Connection) -> None:
    """Refuse to work on a database whose schema is behind this code (migrations are explicit)."""
    applied = _applied_versions(conn)
    missing = [name for version, name, _ in _migration_files() if version not in applied]
    conn.commit()
    if missing:
        raise SchemaNotCurrentError(
            f"the state database lacks migrations {missing}: run `txn-assets migrate` "
            "(`txn-assets run` and `txn-assets dev` migrate their own database)"
        )


def migrate(conninfo: str) -> list[str]:
    """Bring the database to the newest schema; returns the migrations applied now."""
    applied_now: list[str] = []
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            conn.execute(_LEDGER)
            conn.commit()
            done = _applied_versions(conn)
            for version, name, sql_text in _migration_files():
                if version in done:
                    continue
                # Each migration and its ledger row commit together, or not at all.
                with conn.transaction():
                    conn.execute(sql_text)  # type: ignore[arg-type]  # trusted, packaged file
                    conn.execute(
                        "INSERT INTO public.txn_schema_migration (version, name) VALUES (%s, %s)",
                        (version, name),
                    )
                applied_now.append(name)
            conn.commit()
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
            conn.commit()
    return applied_now
