"""Dagster's run and event storage on PostgreSQL, keeping a connection open between writes.

dagster-postgres opens a new connection for every write (its engines have no pool, so that idle
instances hold no connections). A stream run stores some ten events per chunk, and a
PostgreSQL connection costs ~15 ms to open here: a fifth of a chunk's time went to opening
connections. These are dagster-postgres's own storages with a small pool (pre-pinged, so a
database restart costs one reconnect, not a failed write), configured in dagster.yaml like any
storage class.

They also remember the schema checks that come out true. Dagster asks "is there a table X" or
"has table Y column Z" (to support older schemas) on many writes and reads, each a catalog
query of its own; a schema only gains tables and columns (`dagster instance migrate`), so a yes
stays true for the life of the process. A no is asked again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import sqlalchemy
from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage
from dagster_postgres.utils import (
    create_pg_engine,
    get_token_provider_from_config,
    pg_url_from_config,
)

# A run writes from one thread, but a write can check the schema on a second connection while
# holding the first: a few stay open so that no write opens one. The overflow covers the
# daemon's and the webserver's threads. Connections idle this long are replaced.
POOL_SIZE = 4
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


_T = TypeVar("_T")

# dagster's schema checks (dagster 1.13): each answers whether a migration's table or column exists.
SCHEMA_CHECKS = (
    "has_table",
    "has_asset_key_col",
    "has_run_stats_index_cols",
    "has_backfill_id_column",
    "has_bulk_actions_selector_cols",
    "has_bulk_action_job_name_column",
    "has_backfill_tags_table",
)


def _remembering_yes(check: Callable[..., bool]) -> Callable[..., bool]:
    """`check`, asked of the database until it says yes, then answered from memory."""

    @functools.wraps(check)
    def remembered(self: Any, *args: Any) -> bool:
        known: set[tuple[str, tuple[Any, ...]]] = self.__dict__.setdefault("_schema_yes", set())
        key = (check.__name__, args)
        if key in known:
            return True
        answer = check(self, *args)
        if answer:
            known.add(key)
        return answer

    return remembered


def _remembers_schema_yes(storage: type[_T]) -> type[_T]:
    """The storage class with each of its schema checks remembering a yes."""
    for name in SCHEMA_CHECKS:
        if hasattr(storage, name):
            setattr(storage, name, _remembering_yes(getattr(storage, name)))
    return storage


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


@_remembers_schema_yes
class PooledPostgresEventLogStorage(_Pooled, PostgresEventLogStorage):
    """PostgresEventLogStorage with a connection pool, remembering which dynamic partitions exist.

    Dagster asks whether a partition exists for both ends of a run's range when it plans the
    run, builds each step's context and reads `partition_keys`: ~20 queries per Y run (~40 ms).
    A chunk partition, once added, stays: a yes is remembered; a no is asked again, and a
    partition deleted through this storage is forgotten. (One deleted by another process is
    still believed to exist here, as it would be had the deletion come a moment later.)
    """

    def has_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> bool:
        known: set[tuple[str, str]] = self.__dict__.setdefault("_partitions_seen", set())
        if (partitions_def_name, partition_key) in known:
            return True
        found = super().has_dynamic_partition(partitions_def_name, partition_key)
        if found:
            known.add((partitions_def_name, partition_key))
        return found

    def delete_dynamic_partition(self, partitions_def_name: str, partition_key: str) -> None:
        self.__dict__.setdefault("_partitions_seen", set()).discard(
            (partitions_def_name, partition_key)
        )
        super().delete_dynamic_partition(partitions_def_name, partition_key)


@_remembers_schema_yes
class PooledPostgresRunStorage(_Pooled, PostgresRunStorage):  # type: ignore[misc]
    """PostgresRunStorage with a connection pool."""
