"""Wake Mechanism Y's automation when a chunk lands, instead of polling for it.

Mechanism X's cut sends a PostgreSQL notification in its own transaction, so it arrives exactly
when the chunk is durable in the store and the ledger. A waiter that misses nothing: a
notification that arrives while the automation is busy waits in the connection until the next
`wait`. If the database goes away (a restart), `wait` degrades to a plain sleep and listens
again later: the automation's own polling still finds every chunk.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg

from txn_assets.lib.state.queries.producer import LISTEN_STAGED

# Notifications of one burst of commits arrive within this much of each other.
_DRAIN_SECONDS = 0.05


class ChunkStagedSignal:
    """A LISTEN connection on the stream's staged-chunk channel."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: psycopg.Connection[Any] | None = None
        try:  # listening from now on: a chunk staged before the first wait still wakes it
            self._listening()
        except psycopg.OperationalError:
            self.close()

    def _listening(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(self.database_url, autocommit=True, connect_timeout=5)
            self._conn.execute(LISTEN_STAGED)
        return self._conn

    def wait(self, timeout: float) -> bool:
        """Wait until a chunk is staged or `timeout` passes; whether one was (or had been)."""
        started = time.monotonic()
        try:
            conn = self._listening()
            woken = any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
            if woken:  # chunks staged meanwhile are all handled by the next tick
                for _ in conn.notifies(timeout=_DRAIN_SECONDS):
                    pass
            return woken
        except psycopg.OperationalError:
            self.close()
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))
            return False

    def close(self) -> None:
        """Stop listening."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
