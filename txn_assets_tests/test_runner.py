"""When `txn-assets run` lets Mechanism X start: a paced stream waits for Spark's warm-up."""

from __future__ import annotations

import threading
import time

import pytest

from txn_assets import runner
from txn_assets.lib import spark_warmup


@pytest.fixture
def warm_up_under_way(monkeypatch: pytest.MonkeyPatch):
    """A warm-up thread of this process that runs until the test lets it end."""
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(60,), daemon=True)
    thread.start()
    monkeypatch.setattr(spark_warmup, "_started", [thread])
    yield release
    release.set()
    thread.join(5)


def test_a_paced_stream_waits_for_the_warm_up_then_starts(warm_up_under_way):
    since = time.monotonic()
    assert not runner._spark_ready(1.0, since)
    assert time.monotonic() - since >= runner.POLL_SECONDS * 0.9  # it waited, did not spin

    warm_up_under_way.set()
    assert runner._spark_ready(1.0, since)


def test_a_full_speed_stream_never_waits_for_the_warm_up(warm_up_under_way):
    assert runner._spark_ready(0.0, time.monotonic())


def test_a_warm_up_that_never_ends_holds_x_back_only_for_a_while(warm_up_under_way, monkeypatch):
    monkeypatch.setattr(runner, "WARM_UP_PATIENCE_SECONDS", 1.0)
    since = time.monotonic()
    while not runner._spark_ready(1.0, since):
        assert time.monotonic() - since < 10
    assert time.monotonic() - since >= 1.0


def test_without_a_warm_up_a_paced_stream_starts_at_once(monkeypatch):
    monkeypatch.setattr(spark_warmup, "_started", [])
    assert runner._spark_ready(1.0, time.monotonic())
