"""A local Spark Connect server, so that short Dagster run processes skip the JVM start-up."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from txn_assets.lib import settings
from txn_assets.lib.services.ports import free_port, wait_for_port
from txn_assets.lib.services.processes import UNSUPERVISED, Supervisor
from txn_assets.lib.spark_session import SQL_CONF, cluster_config, driver_java_options


@dataclass
class SparkConnectServer:
    """A running server process and the URL clients use."""

    process: subprocess.Popen[bytes]
    port: int
    supervisor: Supervisor

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

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
    conf = {**SQL_CONF, **cluster_config(master, log_file)}
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
