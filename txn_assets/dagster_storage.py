"""Dagster's event log on PostgreSQL, keeping a connection open instead of one per event.

dagster-postgres opens a new connection for every event it stores (its engine has no pool, so
that idle instances hold no connections). A stream run stores some ten events per chunk, and
a PostgreSQL connection costs ~15 ms to open here: a fifth of a chunk's time went to it. This
storage is dagster-postgres's own, with a small pool (pre-pinged, so a database restart costs
one reconnect, not a failed event). It is configured in dagster.yaml like any storage class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dagster_postgres import PostgresEventLogStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# One connection per process is enough (runs store events from one thread); overflow covers the
# daemon's sensor threads. Connections idle this long are replaced.
POOL_SIZE = 1
MAX_OVERFLOW = 4
RECYCLE_SECONDS = 3600


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """PostgresEventLogStorage with a connection pool."""

    def __init__(self, postgres_url: str, **kwargs: Any) -> None:
        super().__init__(postgres_url, **kwargs)
        self._engine = create_pg_engine(
            self.postgres_url,
            self._token_provider,
            isolation_level="AUTOCOMMIT",
            pool_size=POOL_SIZE,
            max_overflow=MAX_OVERFLOW,
            pool_recycle=RECYCLE_SECONDS,
            pool_pre_ping=True,
        )

    @classmethod
    def from_config_value(
        cls, inst_data: Any, config_value: Mapping[str, Any]
    ) -> PooledPostgresEventLogStorage:
        return cls(
            pg_url_from_config(config_value),
            inst_data=inst_data,
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
