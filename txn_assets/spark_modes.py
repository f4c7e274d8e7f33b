"""Which Spark a local command talks to (`--spark local|connect|cluster`), started and stopped here.

Every mode ends in the same two settings the Spark resource reads (`TXN_SPARK_REMOTE`,
`TXN_SPARK_MASTER`), so Dagster runs and `txn-assets run` use one code path whatever the engine:

- `local`: nothing started; the environment's settings (default: classic `local[2]` in process);
- `connect`: a Spark Connect server on loopback, in local mode (`TXN_SPARK_REMOTE`);
- `cluster`: a standalone cluster (one master, two one-core workers) on loopback; `run` drives it
  from its in-process classic session (`TXN_SPARK_MASTER=spark://…`), `dev` through a Spark
  Connect server that is the cluster's driver.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from txn_assets.lib import settings
from txn_assets.stack import LocalStack, home_from_env, scratch_folder

SPARK_MODES = ("local", "connect", "cluster")


def spark_config_from_env(log_dir: Path | None = None) -> dict[str, str]:
    """The Spark settings of this environment: Spark Connect if TXN_SPARK_REMOTE is set."""
    from txn_assets.lib.spark_session import spark_config

    home = home_from_env()
    log_dir = log_dir or Path(os.environ.get("TXN_LOG_DIR") or home / "logs")
    return spark_config(
        remote=os.environ.get("TXN_SPARK_REMOTE", ""),
        master=os.environ.get("TXN_SPARK_MASTER", settings.SPARK_MASTER),
        log_file=str(log_dir.resolve() / "spark.log"),
    )


def warm_spark_early(
    home: Path, connect_server_is_ours: bool = False, full_size_chunks: int | None = None
) -> None:
    """Start this process's Spark session now, in the background, and warm it.

    Classic: the JVM's start-up then overlaps PostgreSQL's and Dagster's imports; the Spark
    resource of the first run finds the session ready (or waits for it instead of starting a
    second one). Spark Connect (TXN_SPARK_REMOTE): the session is cheap, the server's JVM is
    not; a server this command started on loopback (`connect_server_is_ours`) runs the parsing
    plans once, so that the first Y run does not pay for compiling them. Any other server
    (Databricks) cannot read our local warm-up files. `full_size_chunks`: how many generated
    chunks of full size the warm-up parses (default `spark_warmup.STREAM_FULL_SIZE_CHUNKS`).
    """
    from txn_assets.lib.spark_warmup import start_in_background

    home = home.resolve()
    config = spark_config_from_env(home / "logs")
    scratch = scratch_folder(home)
    if "spark.remote" in config:
        if connect_server_is_ours:
            start_in_background(config, scratch, full_size_chunks)
        return
    start_in_background(config, scratch, full_size_chunks)


def end_warm_ups() -> None:
    """End this process's Spark warm-ups, if it started any (`spark_warmup.stop_warm_ups`).

    No warm-up thread may still be inside Spark when the Spark it talks to stops (a Connect
    client would retry against the stopped server) or when the interpreter finalizes (that
    aborts the process: SIGABRT instead of the command's exit code).
    """
    if "txn_assets.lib.spark_warmup" in sys.modules:
        from txn_assets.lib.spark_warmup import stop_warm_ups

        stop_warm_ups()


def _stop_this_process_session() -> None:
    """This process's session, if any, leaves before the Spark it talks to stops.

    A classic driver would log the lost cluster; a Spark Connect client left open retries its
    exit-time cleanup against the stopped server for minutes before the process can exit.
    """
    if "pyspark.sql.connect.session" in sys.modules:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        connected = ConnectSession._get_default_session()
        if connected is not None:
            connected.stop()
    if "pyspark" in sys.modules:
        from pyspark import SparkContext

        active = SparkContext._active_spark_context
        if active is not None:
            active.stop()


@contextmanager
def spark_for(mode: str, stack: LocalStack, via_connect: bool) -> Iterator[None]:
    """Start the Spark `mode` needs under the stack's supervisor and export its settings.

    `via_connect`: drive a cluster through a Spark Connect server (`dev`: many short run
    processes) rather than this process's classic session (`run`: one long-lived driver).
    """
    if mode not in SPARK_MODES:
        raise ValueError(f"--spark {mode!r}: use one of {', '.join(SPARK_MODES)}")
    with ExitStack() as started:
        connect_master = settings.SPARK_MASTER  # a Connect server alone: local mode in its JVM
        if mode == "cluster":
            from txn_assets.lib.services.spark_cluster import WORKERS, start_spark_cluster

            print(
                f"starting a Spark cluster (1 master, {WORKERS} workers) on loopback ...",
                flush=True,
            )
            cluster = start_spark_cluster(stack.home / "spark-cluster", supervisor=stack.supervisor)
            started.callback(cluster.stop)
            connect_master = cluster.url
            if not via_connect:
                os.environ["TXN_SPARK_MASTER"] = cluster.url
        if mode == "connect" or (mode == "cluster" and via_connect):
            from txn_assets.lib.services.spark_connect import start_spark_connect

            print("starting Spark Connect on loopback ...", flush=True)
            server = start_spark_connect(
                stack.home / "spark", master=connect_master, supervisor=stack.supervisor
            )
            started.callback(server.stop)
            os.environ["TXN_SPARK_REMOTE"] = server.remote
        if mode != "local":
            started.callback(_stop_this_process_session)  # before what it talks to
        started.callback(end_warm_ups)  # first: while the Spark it talks to is still up
        yield
