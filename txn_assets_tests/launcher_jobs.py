"""A code location for the run launcher's tests: one job whose run reports where it ran and
waits until the test lets it finish."""

import json
import os
import sys
import time
from pathlib import Path

import dagster as dg

# A standard-library module neither Dagster nor this job imports: in a worker's modules only
# if the fork server preloaded it.
PRELOAD_MARKER = "colorsys"


class WorkerProbe(dg.Config):
    report: str
    release: str


@dg.op
def report_and_wait(config: WorkerProbe) -> None:
    """Writes the worker's pid, parent and preloaded marker, then waits for the release file."""
    Path(config.report).write_text(
        json.dumps(
            {"pid": os.getpid(), "ppid": os.getppid(), "preloaded": PRELOAD_MARKER in sys.modules}
        )
    )
    deadline = time.monotonic() + 120
    while not Path(config.release).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the test never released the run")
        time.sleep(0.05)


@dg.job(executor_def=dg.in_process_executor)
def probe_job() -> None:
    report_and_wait()


defs = dg.Definitions(jobs=[probe_job])
