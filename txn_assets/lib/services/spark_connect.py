"""A local Spark Connect server, so that short Dagster run processes skip the JVM start-up."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from txn_assets.lib.services.ports import free_port, terminate, wait_for_port


@dataclass
class SparkConnectServer:
    """A running server process and the URL clients use."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def remote(self) -> str:
        return f"sc://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """Terminate the server and wait for it."""
        terminate(self.process, 30)


def start_spark_connect(
    log_dir: Path, port: int | None = None, master: str = "local[2]"
) -> SparkConnectServer:
    """Start the server that ships in the pyspark wheel, bound to loopback; returns when it listens."""
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    port = port or free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
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
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        "spark-internal",
    ]
    env = {**os.environ, "SPARK_HOME": str(spark_home), "SPARK_LOCAL_IP": "127.0.0.1"}
    log = (log_dir / "spark-connect.log").open("ab")
    process = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    server = SparkConnectServer(process, port)
    try:
        wait_for_port(port, 180)
    except TimeoutError:
        server.stop()
        raise
    return server
