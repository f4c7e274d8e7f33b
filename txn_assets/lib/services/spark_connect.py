"""A local Spark Connect server, so that short Dagster run processes skip the JVM start-up."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from txn_assets.lib import settings
from txn_assets.lib.services.ports import free_port, wait_for_port
from txn_assets.lib.services.processes import UNSUPERVISED, Supervisor
from txn_assets.lib.spark_session import (
    NO_CALL_SITES,
    SQL_CONF,
    cluster_config,
    driver_java_options,
)

# Spark caches the code it generates per server session (each session has its own class
# loader), so a Dagster run process opening a session of its own recompiled every parsing plan
# and ran it on code the JVM had never optimised: measured on a warm server, a new session's
# first ten-chunk batch took 2.6-4.1 s against 2.0-2.4 s in a session that had run it before.
# Every client of this server therefore joins one session, kept for as long as the server
# runs (sessions idle for an hour would otherwise be closed, and a closed id cannot be reused).
_SESSION_CONF = {"spark.connect.session.manager.defaultSessionTimeout": "3650d"}


@dataclass
class SparkConnectServer:
    """A running server process and the URL its clients use: all of them share one session."""

    process: subprocess.Popen[bytes]
    port: int
    supervisor: Supervisor
    session_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.port}/;session_id={self.session_id}"

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        self.supervisor.stop(self.process, 30)


def start_spark_connect(
    log_dir: Path,
    port: int | None = None,
    master: str = settings.SPARK_MASTER,
    supervisor: Supervisor = UNSUPERVISED,
) -> SparkConnectServer:
    """Start the server that ships in the pyspark wheel, bound to loopback; returns when it listens.

    `master` may be a standalone cluster's `spark://…` URL: the server is then its driver.
    """
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = str(log_dir / "spark.log")
    conf = {**SQL_CONF, **NO_CALL_SITES, **_SESSION_CONF, **cluster_config(master, log_file)}
    command = [
        str(spark_home / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
        "--master",
        master,
        "--conf",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "--conf",
        f"spark.connect.grpc.binding.port={port}",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        "spark.driver.bindAddress=127.0.0.1",
        *(arg for key, value in conf.items() for arg in ("--conf", f"{key}={value}")),
        "--conf",
        f"spark.driver.extraJavaOptions={driver_java_options(log_file)}",
        "spark-internal",
    ]
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1"}
    process = supervisor.start(command, log=log_dir / "spark-connect.log", env=env)
    server = SparkConnectServer(process, port, supervisor)
    try:
        wait_for_port(port, 180)
    except TimeoutError:
        server.stop()
        raise
    return server
