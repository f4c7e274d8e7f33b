"""The Spark settings of this project: classic (local or a standalone cluster), Spark Connect.

`spark_config` is what dagster-pyspark's resource takes; `build_spark_session` builds the same
session for code outside Dagster (benchmarks, engine tests). The settings for `spark.remote`
switch PySpark's builder to Spark Connect; a process holds either kind of session, never both.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

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
# PySpark records the Python call site of every DataFrame function for its error messages: in a
# classic session four JVM round trips per call (~12 ms of a chunk's ~0.15 s plan building).
# Our errors name the file and line, not the call site. A static setting: the session's (or
# the Spark Connect server's) start decides it.
NO_CALL_SITES = {"spark.python.sql.dataFrameDebugging.enabled": "false"}
# The interpreter hands the GIL to a waiting thread after at most this long (Python's default:
# 5 ms). Every py4j or Spark Connect call releases it while Spark works, and a thread that
# makes ~100 such calls per chunk beside busy Python code (a Dagster run, the merge) waited up
# to the whole interval after each: one chunk's parse took 1.7 s instead of 0.4 s beside a busy
# thread, 0.55 s with 0.5 ms (`quick_thread_handoffs`), and the busy thread lost nothing measurable.
SWITCH_INTERVAL_SECONDS = 0.0005
_LOCAL_CONF = {
    **NO_CALL_SITES,
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


def quick_thread_handoffs() -> None:
    """Let a thread that calls Spark get the GIL back quickly beside busy Python code (for the
    whole process: call it where Spark's calls start running beside other work)."""
    if sys.getswitchinterval() > SWITCH_INTERVAL_SECONDS:
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)


def _jvm_log_file(config: dict[str, str]) -> str | None:
    found = re.search(r"-Dtxn\.spark\.log=(\S+)", config.get("spark.driver.extraJavaOptions", ""))
    return found.group(1) if found else None


def _launch_jvm_quietly(config: dict[str, str]) -> None:
    """Start the driver JVM with its stderr in Spark's log file, not on the user's console.

    The JVM launcher prints a line Spark cannot silence ("Using incubator modules", from the
    module Spark 4 always adds); PySpark's builder would let the JVM inherit our stderr.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    log_file = _jvm_log_file(config)
    if "spark.remote" in config or log_file is None or SparkContext._gateway is not None:
        return
    conf = SparkConf().setAll(list(config.items()))
    Path(log_file).parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "ab") as jvm_stderr:
        gateway = launch_gateway(conf, popen_kwargs={"stderr": jvm_stderr})
    SparkContext._ensure_initialized(gateway=gateway, conf=conf)


def session_from_config(config: dict[str, str]) -> SparkSession:
    """The process's session (created once, then reused): the config applied to the builder."""
    _launch_jvm_quietly(config)
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
