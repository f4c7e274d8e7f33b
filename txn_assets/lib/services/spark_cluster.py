"""A local Spark standalone cluster: the real distributed engine, from the pyspark wheel.

One master and two workers of one core each, every JVM bound to 127.0.0.1 on free ports, each in
its own supervised process group. A driver (the classic in-process session of `txn-assets run`, or
a Spark Connect server for `dev`) attaches with `spark.master spark://127.0.0.1:PORT`; its
executors then run in JVMs the workers launch, as on a real cluster: separate processes that
only share the files on this machine's disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from txn_assets.lib import spark_cds
from txn_assets.lib.services.ports import free_port, wait_for_port
from txn_assets.lib.services.processes import UNSUPERVISED, Supervisor
from txn_assets.lib.spark_session import log4j_options

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
# Two workers of one core each: the smallest cluster whose tasks really run in two executors.
WORKERS = 2
WORKER_CORES = 1
# What a worker offers its executors (each executor asks for spark.executor.memory, 1g).
WORKER_MEMORY = "2g"
# Heap of the master and worker daemons themselves (Spark's default is 1g each).
DAEMON_MEMORY = "512m"


@dataclass
class SparkCluster:
    """A running cluster: its processes and the URLs drivers and tools use."""

    master: subprocess.Popen[bytes]
    port: int
    ui_port: int
    supervisor: Supervisor
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """What a driver's `spark.master` is set to."""
        return f"spark://127.0.0.1:{self.port}"

    def state(self) -> dict[str, Any]:
        """The master's own view of the cluster (its UI's /json endpoint, on loopback)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json", timeout=5) as reply:
            return dict(json.load(reply))

    def alive_workers(self) -> int:
        """How many workers the master counts as alive."""
        workers = self.state().get("workers") or []
        return sum(1 for w in workers if isinstance(w, dict) and w.get("state") == "ALIVE")

    def stop(self) -> None:
        """Stop the workers (their executors go with their process group), then the master."""
        for worker in self.workers:
            self.supervisor.stop(worker, 30)
        self.supervisor.stop(self.master, 30)


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _daemon_env(log_file: Path) -> dict[str, str]:
    """Environment of a master or worker JVM: loopback only, its log to a file, small heap."""
    import sys

    return {
        **os.environ,
        "SPARK_HOME": str(_spark_home()),
        # Spark binds its web UIs (and executors' block managers) to SPARK_LOCAL_IP.
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        # The daemons only schedule: the quick compiler and one GC thread spare the executors'
        # CPU (on two cores, the JIT threads of three JVMs starting at once are what is slow).
        "SPARK_DAEMON_JAVA_OPTS": " ".join(
            o
            for o in (
                log4j_options(str(log_file)),
                spark_cds.jvm_options(),
                "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
            )
            if o
        ),
        # Python work on executors (if any) uses this environment's interpreter and packages.
        "PYSPARK_PYTHON": sys.executable,
    }


def wait_for_workers(cluster: SparkCluster, count: int, timeout_s: float, base_dir: Path) -> None:
    """Return once `count` workers are alive; fail if a process exits or time runs out."""
    deadline = time.monotonic() + timeout_s
    alive = 0
    while time.monotonic() < deadline:
        for name, process in (
            ("master", cluster.master),
            *(("worker", w) for w in cluster.workers),
        ):
            if process.poll() is not None:
                raise RuntimeError(f"the Spark {name} exited early (its log is under {base_dir})")
        try:
            alive = cluster.alive_workers()
        except (OSError, ValueError):  # the UI is not up yet, or answers before it has a page
            alive = 0
        if alive >= count:
            return
        time.sleep(0.25)
    raise TimeoutError(f"{alive} of {count} Spark workers registered after {timeout_s:.0f}s")


def start_spark_cluster(
    base_dir: Path,
    workers: int = WORKERS,
    supervisor: Supervisor = UNSUPERVISED,
    timeout_s: float = 180,
) -> SparkCluster:
    """Start a master and its workers on loopback; returns once every worker has registered.

    Logs and the workers' scratch (executors' folders) live under base_dir, never in the wheel.
    """
    base_dir = base_dir.resolve()
    base_dir.mkdir(parents=True, exist_ok=True)
    spark_class = str(_spark_home() / "bin" / "spark-class")
    port, ui_port = free_port(), free_port()
    master_env = {
        **_daemon_env(base_dir / "master.log"),
        # No REST submission gateway: drivers only connect, nothing is submitted to the master.
        "SPARK_MASTER_OPTS": "-Dspark.master.rest.enabled=false",
    }
    master_args = ["--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui_port)]
    master = supervisor.start(
        [spark_class, MASTER_CLASS, *master_args],
        log=base_dir / "master.out",
        env=master_env,
    )
    cluster = SparkCluster(master, port, ui_port, supervisor)
    try:
        # Workers that start before the master retry only after several seconds: wait for it.
        wait_for_port(port, timeout_s)
        for number in range(1, workers + 1):
            work_dir = base_dir / f"worker-{number}"
            work_dir.mkdir(exist_ok=True)
            worker_args = [
                *("--host", "127.0.0.1", "--port", "0", "--webui-port", str(free_port())),
                *("--cores", str(WORKER_CORES), "--memory", WORKER_MEMORY),
                *("--work-dir", str(work_dir), cluster.url),
            ]
            cluster.workers.append(
                supervisor.start(
                    [spark_class, WORKER_CLASS, *worker_args],
                    log=base_dir / f"worker-{number}.out",
                    env=_daemon_env(base_dir / f"worker-{number}.log"),
                )
            )
        wait_for_workers(cluster, workers, timeout_s, base_dir)
    except BaseException:
        cluster.stop()
        raise
    return cluster
