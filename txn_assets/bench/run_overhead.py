"""`python -m txn_assets.bench.run_overhead --home H`: what a Mechanism Y run costs Dagster.

Executes `mechanism_y_job` in this process over one chunk partition at a time, on a home whose
stream `txn-assets run` has applied: the ledger answers at once ("already applied"), no Spark
session is opened, so what is timed is the run around the step (its creation, events, resources,
the detection-files step) as `run` pays it for every chunk. Once with the instance `run`
executes its runs with (no per-run stdout capture), once with the home's `dagster.yaml` (the
instance of `dev`'s daemon runs, capturing stdout and stderr). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dagster import DagsterInstance, JobDefinition


def _quartiles(values: list[float]) -> str:
    q1, median, q3 = statistics.quantiles(values, n=4)
    return f"median {median:.3f}s  (quartiles {q1:.3f}-{q3:.3f}s)"


def main() -> None:
    """Time the runs and print one line per instance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, required=True, help="a home `run` has applied")
    parser.add_argument("--runs", type=int, default=30, help="runs per instance")
    parser.add_argument("--transactions", type=Path, help="the stream's (default HOME/source)")
    parser.add_argument("--importance", type=Path, help="the stream's CustomerImportance.csv")
    args = parser.parse_args()

    import dagster as dg
    import psycopg

    from txn_assets.lib.stream_status import read_status
    from txn_assets.stack import StackSettings, in_process_instance, local_stack

    settings = StackSettings(args.home, args.transactions, args.importance)
    with local_stack(settings, "bench"):
        from txn_assets.definitions import defs

        with psycopg.connect(os.environ["TXN_DATABASE_URL"]) as conn:
            applied = read_status(conn).applied
        if applied < 2:
            raise SystemExit(f"{args.home}: run the stream first (`txn-assets run --home ...`)")
        job = defs.resolve_job_def("mechanism_y_job")
        instances = {
            "in-process (run)": in_process_instance,
            "dagster.yaml (dev)": dg.DagsterInstance.get,
        }
        for name, open_instance in instances.items():
            with open_instance() as instance:
                seconds = _time_runs(job, instance, applied, args.runs)
            print(f"Y run over one applied chunk, {name:<19} {_quartiles(seconds)}", flush=True)


def _time_runs(
    job: JobDefinition, instance: DagsterInstance, applied: int, runs: int
) -> list[float]:
    """Seconds of `runs` runs over applied chunks, after three that warm the caches."""
    from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
    from txn_assets.lib.chunks import chunk_key
    from txn_assets.runner import QUIET

    seconds = []
    for number in range(runs + 3):
        key = chunk_key(number % applied)
        started = time.monotonic()
        result = job.execute_in_process(
            instance=instance,
            tags={RANGE_START_TAG: key, RANGE_END_TAG: key},
            run_config=QUIET,
            raise_on_error=False,
        )
        if not result.success:
            raise SystemExit(f"a run over applied chunk {key} failed")
        if number >= 3:
            seconds.append(time.monotonic() - started)
    return seconds


if __name__ == "__main__":
    main()
