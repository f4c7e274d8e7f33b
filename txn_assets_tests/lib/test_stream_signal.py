"""Mechanism X's cut wakes the automation when it commits; nothing staged, nothing wakes it."""

from __future__ import annotations

import time

import pytest

from txn_assets.lib.generate import generate
from txn_assets.lib.producer import cut_next_chunk
from txn_assets.lib.sources.local_file import LocalFileSource
from txn_assets.lib.stores.local import LocalFolderStore
from txn_assets.lib.stream_signal import ChunkStagedSignal


@pytest.fixture
def cut(tmp_path, conn):
    source = LocalFileSource(generate(tmp_path / "src", rows=300, seed=3).transactions)
    store = LocalFolderStore(tmp_path / "blob")
    return lambda: cut_next_chunk(conn, source, store, "staging", 100)


@pytest.fixture
def signal(database_url):
    waiter = ChunkStagedSignal(database_url)
    yield waiter
    waiter.close()


def test_no_chunk_staged_means_the_wait_times_out(signal):
    started = time.monotonic()

    assert signal.wait(0.3) is False
    assert time.monotonic() - started >= 0.3


def test_a_chunk_staged_while_the_automation_was_busy_wakes_the_next_wait(signal, cut):
    assert signal.wait(0) is False  # listening from now on
    assert cut() is not None
    assert cut() is not None  # two chunks during one busy tick: one wake-up for both

    started = time.monotonic()
    assert signal.wait(5) is True
    assert time.monotonic() - started < 1
    assert signal.wait(0.2) is False


def test_the_wait_survives_the_database_dropping_its_connection(signal, cut, conn):
    assert signal.wait(0) is False
    backend = signal._conn.info.backend_pid  # type: ignore[union-attr]
    conn.execute("SELECT pg_terminate_backend(%s)", (backend,))  # as a restart does
    conn.commit()

    started = time.monotonic()
    assert signal.wait(0.3) is False  # the lost connection degrades to a sleep
    assert time.monotonic() - started >= 0.25
    assert signal.wait(0) is False  # and listens again
    assert cut() is not None
    assert signal.wait(5) is True
