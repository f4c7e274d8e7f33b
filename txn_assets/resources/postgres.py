"""PostgreSQL holding the stream's state."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import psycopg
from pydantic import PrivateAttr

from txn_assets.lib.state.migrate import check_current


class PostgresResource(dg.ConfigurableResource):
    """Connections to the state database. Migrations are an explicit step (`txn-assets migrate`);
    the first connection of a run checks that they were applied."""

    url: str

    _checked: bool = PrivateAttr(default=False)

    @contextmanager
    def connect(self) -> Iterator[psycopg.Connection[Any]]:
        """A fresh connection (closed afterwards); transactions are the caller's."""
        with psycopg.connect(self.url) as conn:
            if not self._checked:
                check_current(conn)
                self._checked = True
            yield conn
