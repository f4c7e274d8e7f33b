"""The Spark settings of this project: classic (local or a standalone cluster), Spark Connect.

`spark_config` is what dagster-pyspark's resource takes; `build_spark_session` builds the same
session for code outside Dagster (benchmarks, engine tests). The settings for `spark.remote`
switch PySpark's builder to Spark Connect; a process holds either kind of session, never both.
"""

from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources

from pyspark.sql import SparkSession

from txn_assets.lib import settings, spark_cds
from txn_assets.lib.spark_parsing import SPLIT_SETTINGS

_DEFAULT_LOG = os.path.join(tempfile.gettempdir(), "txn-assets-spark.log")
# A batch of chunks is a few MB: one shuffle partition beats Spark's default of 200, and
# adaptive execution would only add a job per query. Each file split is a partition of its own,
# so that line numbers come with the read (spark_parsing).
SQL_CONF = {
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.session.timeZone": "UTC",
    **SPLIT_SETTINGS,
}
_LOCAL_CONF = {
    "spark.app.name": "txn-assets",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


def log4j_options(log_file: str) -> str:
    """JVM options that send Spark's log to log_file instead of the console."""
    config = resources.files("txn_assets.lib") / "log4j2.properties"
    return f"-Dlog4j2.configurationFile=file:{config} -Dtxn.spark.log={log_file}"


def driver_java_options(log_file: str, extra: str = "") -> str:
    """The driver JVM's options: its log file and, once built, the class archive (spark_cds)."""
    return " ".join(o for o in (log4j_options(log_file), spark_cds.jvm_options(), extra) if o)


def cluster_config(master: str, log_file: str) -> dict[str, str]:
    """Settings a driver on a standalone cluster (`spark://…`) adds: its executors are other JVMs.

    They use this environment's Python (the workers may have another on their PATH), log to the
    same file instead of the console, and map the class archive when it fits their class path.
    """
    if not master.startswith("spark://"):
        return {}
    return {
        "spark.pyspark.python": sys.executable,
        "spark.executor.cores": "1",
        "spark.executor.memory": "1g",
        "spark.executor.extraJavaOptions": driver_java_options(log_file),
    }


def spark_config(
    remote: str = "",
    master: str = settings.SPARK_MASTER,
    log_file: str = _DEFAULT_LOG,
    java_options: str = "",
) -> dict[str, str]:
    """Spark settings: `spark.remote` for Spark Connect, else a classic session on `master`."""
    if remote:
        return {"spark.remote": remote, **SQL_CONF}
    # Spark binds to loopback only (and stops warning that the hostname resolves to it).
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    return {
        "spark.master": master,
        **_LOCAL_CONF,
        **SQL_CONF,
        **cluster_config(master, log_file),
        "spark.driver.extraJavaOptions": driver_java_options(log_file, java_options),
    }


def session_from_config(config: dict[str, str]) -> SparkSession:
    """The process's session (created once, then reused): the config applied to the builder."""
    builder = SparkSession.builder
    for key, value in config.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def build_spark_session(
    remote: str = "",
    master: str = settings.SPARK_MASTER,
    log_file: str = _DEFAULT_LOG,
    java_options: str = "",
) -> SparkSession:
    """The process's session for code outside Dagster (benchmarks, engine tests)."""
    return session_from_config(spark_config(remote, master, log_file, java_options))
