"""Dagster's run and event storage on PostgreSQL, keeping a connection open between writes.

dagster-postgres opens a new connection for every write (its engines have no pool, so that idle
instances hold no connections). A stream run stores some ten events per chunk, and a
PostgreSQL connection costs ~15 ms to open here: a fifth of a chunk's time went to opening
connections. These are dagster-postgres's own storages with a small pool (pre-pinged, so a
database restart costs one reconnect, not a failed write), configured in dagster.yaml like any
storage class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# One connection per process is enough for a run (it writes from one thread); the overflow
# covers the daemon's and the webserver's threads. Connections idle this long are replaced.
POOL_SIZE = 1
MAX_OVERFLOW = 16
RECYCLE_SECONDS = 3600


def pooled_engine(postgres_url: str, token_provider: Any) -> sqlalchemy.engine.Engine:
    """An engine like dagster-postgres's, with a pool instead of a connection per write."""
    return create_pg_engine(
        postgres_url,
        token_provider,
        isolation_level="AUTOCOMMIT",
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        pool_recycle=RECYCLE_SECONDS,
        pool_pre_ping=True,
    )


class _Pooled:
    """Swaps a dagster-postgres storage's engine for a pooled one; shared by both storages."""

    postgres_url: str
    _engine: sqlalchemy.engine.Engine
    _token_provider: Any

    def __init__(self, postgres_url: str, **kwargs: Any) -> None:
        super().__init__(postgres_url, **kwargs)  # type: ignore[call-arg]
        self._engine = pooled_engine(self.postgres_url, self._token_provider)

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]
        self._engine.dispose()  # the pool's connections close with the instance

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Mapping[str, Any]) -> Any:
        return cls(
            pg_url_from_config(config_value),
            inst_data=inst_data,
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )


class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    """PostgresEventLogStorage with a connection pool."""


class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):  # type: ignore[misc]
    """PostgresRunStorage with a connection pool."""
