"""PostgreSQL holding the stream's state."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import psycopg
from pydantic import PrivateAttr

from txn_assets.lib.state.migrate import migrate


class PostgresResource(dg.ConfigurableResource):
    """Connections to the state database; the schema is migrated on first use in a process."""

    url: str

    _migrated: bool = PrivateAttr(default=False)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Any]]:
        """A fresh connection (closed afterwards); transactions are the caller's."""
        if not self._migrated:
            migrate(self.url)
            self._migrated = True
        with psycopg.connect(self.url) as conn:
            yield conn
