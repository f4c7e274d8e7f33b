"""One PostgreSQL connection kept open for frequent short reads, reopened after a restart.

`run` reads the stream's status twice per tick and its figures for the console on every change,
several times per chunk; opening a connection costs ~10 ms here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

_T = TypeVar("_T")
# Between attempts to reach a database that is restarting.
RETRY_SECONDS = 0.5


class KeptConnection:
    """An autocommit connection to `url`, opened on first use and again after it broke.

    For one thread (`run`'s main loop): a connection runs one statement at a time."""

    def __init__(self, url: str, connect_timeout: int = 5) -> None:
        self._url, self._connect_timeout = url, connect_timeout
        self._conn: psycopg.Connection[Any] | None = None

    def read(self, query: Callable[[psycopg.Connection[Any]], _T], patience_s: float = 0) -> _T:
        """`query` on the connection; a database that went away is tried again for
        `patience_s` (its OperationalError raised after that)."""
        deadline = time.monotonic() + patience_s
        while True:
            try:
                return query(self._open())
            except psycopg.Error as error:
                self.close()  # broken or in an unknown state: the next read opens a new one
                if not isinstance(error, psycopg.OperationalError):
                    raise
                if time.monotonic() >= deadline:
                    raise
                time.sleep(RETRY_SECONDS)

    def _open(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._url, connect_timeout=self._connect_timeout, autocommit=True
            )
        return self._conn

    def close(self) -> None:
        """Close the connection, if open (a later read opens another)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
