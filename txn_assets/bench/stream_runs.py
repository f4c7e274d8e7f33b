"""One path of the stream measured end to end: `txn-assets run` as a user starts it.

The command runs in a child process on its own home; the benchmark samples the memory of its
whole process tree (Python, Spark's JVM, PostgreSQL, Mechanism X) while it runs, then reads each
chunk's timeline from the state database it left behind.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg

from txn_assets.console import DONE_PREFIX, READY_PREFIX
from txn_assets.lib.services.postgres import start_postgres, stop_postgres
from txn_assets.lib.state.queries.stream import WEIGHTS_LOADED_AT
from txn_assets.lib.stream_summary import ChunkTiming, chunk_timings


@dataclass
class PathRun:
    """The figures of one path."""

    name: str
    command: list[str]
    wall_seconds: float
    startup_seconds: float
    peak_rss_mib: float
    chunks: list[ChunkTiming]
    weights_loaded_seconds: float | None = None
    # Command to its summary ("done in"): the wall time without the checks, the report and the
    # stop of the services that follow it (~5–7 s). None for the sensor path (no summary).
    summary_seconds: float | None = None

    def percentile(self, fraction: float) -> float:
        values = sorted(c.latency for c in self.chunks)
        return values[min(len(values) - 1, int(fraction * len(values)))]

    def summary(self) -> dict[str, Any]:
        """The figures the table and the JSON show."""
        first, last = self.chunks[:3], self.chunks[-3:]
        span = (
            self.chunks[-1].staged_at.timestamp()
            + self.chunks[-1].latency
            - self.chunks[0].staged_at.timestamp()
        )
        stages = {
            name: statistics.median(c.stages.get(name, 0.0) for c in self.chunks)
            for name in self.chunks[0].stages
        }
        return {
            "path": self.name,
            "command": " ".join(self.command),
            "chunks": len(self.chunks),
            "wall_s": round(self.wall_seconds, 2),
            "summary_s": (
                round(self.summary_seconds, 2) if self.summary_seconds is not None else None
            ),
            "startup_s": round(self.startup_seconds, 2),
            "weights_loaded_s": (
                round(self.weights_loaded_seconds, 2)
                if self.weights_loaded_seconds is not None
                else None
            ),
            "latency_p50_s": round(self.percentile(0.5), 3),
            "latency_p95_s": round(self.percentile(0.95), 3),
            "latency_max_s": round(max(c.latency for c in self.chunks), 3),
            "latency_first10_median_s": round(
                statistics.median(c.latency for c in self.chunks[:10]), 3
            ),
            "latency_last10_median_s": round(
                statistics.median(c.latency for c in self.chunks[-10:]), 3
            ),
            "rows_per_s": round(sum(c.rows for c in self.chunks) / span) if span > 0 else None,
            "stage_median_s": {k: round(v, 4) for k, v in stages.items()},
            "first3_chunk_cost_s": round(statistics.median(c.cost for c in first), 3),
            "last3_chunk_cost_s": round(statistics.median(c.cost for c in last), 3),
            "peak_rss_mib": round(self.peak_rss_mib),
            "per_chunk": [asdict(c) for c in self.chunks],
        }


def tree_rss(root: psutil.Process) -> float:
    """MiB resident in a process and all its descendants now."""
    total = 0
    for process in (root, *root.children(recursive=True)):
        with contextlib.suppress(psutil.Error):
            total += process.memory_info().rss
    return total / 2**20


def timeline(home: Path, started_at: datetime) -> tuple[float, list[ChunkTiming]]:
    """Start-up (command start to weights loaded) and each chunk's timing, from the ledger of a
    home whose command has stopped (its embedded PostgreSQL is started to read it)."""
    server = start_postgres(home / "postgres")
    try:
        with psycopg.connect(server.url("txn")) as conn:
            loaded = conn.execute(WEIGHTS_LOADED_AT).fetchone()[0]  # type: ignore[index]
            chunks = chunk_timings(conn)
    finally:
        stop_postgres(home / "postgres")
    return loaded.timestamp() - started_at.timestamp(), chunks


def run_path(
    name: str,
    home: Path,
    transactions: Path,
    importance: Path,
    interval: float,
    extra_args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> PathRun:
    """Run `txn-assets run` on a fresh home and measure it (`extra_args`, `env`: its options)."""
    command = [
        sys.executable, "-m", "txn_assets.cli", "run", "--home", str(home),
        "--transactions", str(transactions), "--importance", str(importance),
        "--interval", str(interval), *extra_args,
    ]  # fmt: skip
    log = home.parent / f"{name}.log"
    home.mkdir(parents=True, exist_ok=True)
    started_at = datetime.now(UTC)
    started = time.monotonic()
    peak = 0.0
    with log.open("wb") as out:
        child = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )
        watched = psutil.Process(child.pid)
        launched = watched.create_time() - started_at.timestamp()
        while child.poll() is None:
            peak = max(peak, tree_rss(watched))
            time.sleep(0.25)
    wall = time.monotonic() - started
    if child.returncode != 0:
        raise RuntimeError(f"{name}: `{' '.join(command)}` failed; see {log}")
    weights_loaded, chunks = timeline(home, started_at)
    output = log.read_text(errors="replace")
    ready = launched + seconds_said(output, READY_PREFIX)
    summary = launched + seconds_said(output, DONE_PREFIX)
    return PathRun(name, command[2:], wall, ready, peak, chunks, weights_loaded, summary)


def seconds_said(output: str, prefix: str) -> float:
    """The seconds on `run`'s line that starts with prefix (when it became ready: weights
    loaded, Spark warm; when it printed its summary), counted from its start."""
    for line in output.splitlines():
        if line.startswith(prefix):
            return float(line.removeprefix(prefix).split("s", 1)[0])
    raise RuntimeError(f"the command never printed a line starting {prefix!r}")


def time_noop_rerun(home: Path, transactions: Path, importance: Path, partitions: int) -> float:
    """Seconds of a Mechanism Y range run over `partitions` chunks that are all applied already.

    This is what a rerun or a backfill of applied partitions executes: the ledger says what is
    done, no Spark session is opened. (A backfill adds Dagster's backfill-daemon loop around it.)
    """
    import dagster as dg

    from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
    from txn_assets.lib.chunks import chunk_key
    from txn_assets.runner import QUIET
    from txn_assets.stack import StackSettings, local_stack

    with local_stack(StackSettings(home, transactions, importance), "bench"):
        from txn_assets.definitions import defs

        job = defs.resolve_job_def("mechanism_y_job")
        started = time.monotonic()
        result = job.execute_in_process(
            instance=dg.DagsterInstance.get(),
            tags={RANGE_START_TAG: chunk_key(0), RANGE_END_TAG: chunk_key(partitions - 1)},
            run_config=QUIET,
            raise_on_error=False,
        )
        seconds = time.monotonic() - started
    if not result.success:
        raise RuntimeError("the no-op rerun failed")
    return seconds
