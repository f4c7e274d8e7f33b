"""One way to get a SparkSession: a classic local session, or Spark Connect (local or Databricks)."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

# Chunks are small (about 1 MB): a handful of shuffle partitions beats Spark's default of 200.
_LOCAL_CONF = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.showConsoleProgress": "false",
}


def build_spark_session(remote: str | None = None, master: str = "local[2]") -> SparkSession:
    """Reuses the process's session: creating one costs seconds, applying a chunk should not."""
    # Spark binds to loopback only (and stops warning that the hostname resolves to it).
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    if remote:
        # The generic builder also switches pyspark.sql.functions to Connect columns; one process
        # holds either a classic or a Connect session, never both.
        return SparkSession.builder.remote(remote).getOrCreate()
    builder = SparkSession.builder.master(master).appName("txn-assets")
    for key, value in _LOCAL_CONF.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
