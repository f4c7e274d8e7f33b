"""Which Spark the early warm-up talks to: never a Connect server that cannot read our files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from txn_assets import spark_modes
from txn_assets.lib import spark_warmup


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, str]]:
    """The warm-ups asked for (recorded instead of starting a JVM or a Connect session)."""
    calls: list[dict[str, str]] = []

    def record(
        config: dict[str, str],
        scratch_root: Path | None = None,
        full_size_chunks: int | None = None,
    ) -> Any:
        assert scratch_root is not None and scratch_root.name == "scratch"  # inside the home
        calls.append(config)

    monkeypatch.setattr(spark_warmup, "start_in_background", record)
    return calls


def test_a_classic_session_is_warmed_in_this_process(started, monkeypatch, tmp_path):
    monkeypatch.delenv("TXN_SPARK_REMOTE", raising=False)
    spark_modes.warm_spark_early(tmp_path)

    [config] = started
    assert "spark.remote" not in config and config["spark.master"].startswith("local")


def test_a_connect_server_of_ours_is_warmed_for_the_run_processes(started, monkeypatch, tmp_path):
    monkeypatch.setenv("TXN_SPARK_REMOTE", "sc://127.0.0.1:15002")
    spark_modes.warm_spark_early(tmp_path, connect_server_is_ours=True)

    [config] = started
    assert config["spark.remote"] == "sc://127.0.0.1:15002"


def test_a_connect_server_from_the_environment_is_left_alone(started, monkeypatch, tmp_path):
    monkeypatch.setenv("TXN_SPARK_REMOTE", "sc://workspace.example:443/;use_ssl=true")
    spark_modes.warm_spark_early(tmp_path)

    assert started == []  # e.g. Databricks: it cannot read the warm-up's local files


def test_the_number_of_full_size_warm_up_chunks_reaches_the_warm_up(monkeypatch, tmp_path):
    asked: list[int | None] = []
    monkeypatch.setattr(
        spark_warmup,
        "start_in_background",
        lambda config, scratch_root=None, full_size_chunks=None: asked.append(full_size_chunks),
    )
    monkeypatch.delenv("TXN_SPARK_REMOTE", raising=False)
    spark_modes.warm_spark_early(tmp_path, full_size_chunks=0)  # `run --interval 0`
    spark_modes.warm_spark_early(tmp_path)
    assert asked == [0, None]  # None: the stream's default


def test_leaving_spark_ends_the_warm_ups_before_the_session_and_the_server_stop(
    monkeypatch, tmp_path
):
    """A warm-up still inside Spark when its Connect server stops would retry against it."""
    from txn_assets.lib.services import spark_connect

    order: list[str] = []

    class Server:
        remote = "sc://127.0.0.1:15002"

        def stop(self) -> None:
            order.append("server stopped")

    monkeypatch.setattr(spark_connect, "start_spark_connect", lambda *a, **k: Server())
    monkeypatch.setattr(spark_warmup, "stop_warm_ups", lambda: order.append("warm-ups ended"))
    monkeypatch.setattr(
        spark_modes, "_stop_this_process_session", lambda: order.append("session stopped")
    )
    monkeypatch.setenv("TXN_SPARK_REMOTE", "")
    stack = spark_modes.LocalStack(tmp_path, {}, supervisor=None)  # type: ignore[arg-type]

    with spark_modes.spark_for("connect", stack, via_connect=True):
        assert order == []

    assert order == ["warm-ups ended", "session stopped", "server stopped"]
