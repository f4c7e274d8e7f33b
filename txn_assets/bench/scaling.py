"""`python -m txn_assets.bench.scaling`: the stream against chunk size and Spark engine.

Each cell is `txn-assets run --interval 0` on a fresh home over the same generated data (as fast
as X can stage, so the figure is throughput): rows/s from the first chunk staged to the last
committed, Mechanism Y's cost per chunk (its Spark share plus merge and detection, from the
ledger), the latency staged → committed (at full speed mostly queueing), and the peak memory of
the whole process tree — Python, the driver JVM, PostgreSQL and, for the cluster, the master,
worker and executor JVMs. The curve says where more engine helps and where it does not.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from txn_assets.bench.stream_runs import run_path
from txn_assets.lib.generate import generate

# Engine name -> (extra `run` options, environment).
ENGINES: dict[str, tuple[list[str], dict[str, str]]] = {
    "local[1]": (["--spark", "local"], {"TXN_SPARK_MASTER": "local[1]"}),
    "local[2]": (["--spark", "local"], {"TXN_SPARK_MASTER": "local[2]"}),
    "cluster-2x1": (["--spark", "cluster"], {}),
}
CHUNK_SIZES = (10_000, 50_000, 100_000)


def _cell(engine: str, chunk_rows: int, summary: dict[str, Any]) -> dict[str, Any]:
    costs = [sum(c["stages"].values()) for c in summary["per_chunk"]]
    return {
        "engine": engine,
        "chunk_rows": chunk_rows,
        "chunks": summary["chunks"],
        "wall_s": summary["wall_s"],
        "startup_s": summary["startup_s"],
        "rows_per_s": summary["rows_per_s"],
        "chunk_cost_median_s": round(statistics.median(costs), 3),
        "chunk_spark_median_s": summary["stage_median_s"].get("spark"),
        "chunk_merge_median_s": summary["stage_median_s"].get("merge_detect"),
        "latency_p50_s": summary["latency_p50_s"],
        "latency_p95_s": summary["latency_p95_s"],
        "peak_rss_mib": summary["peak_rss_mib"],
    }


def table(cells: list[dict[str, Any]]) -> str:
    """The printed (and README) table."""
    lines = [
        f"{'engine':<12} {'chunk':>7} {'chunks':>6} {'wall':>7} {'start':>6} {'rows/s':>8} "
        f"{'chunk cost':>10} {'spark':>6} {'merge':>6} {'p50':>7} {'RSS MiB':>8}"
    ]
    for c in cells:
        lines.append(
            f"{c['engine']:<12} {c['chunk_rows']:>7,} {c['chunks']:>6} {c['wall_s']:>6.1f}s "
            f"{c['startup_s']:>5.1f}s {c['rows_per_s'] or 0:>8,} {c['chunk_cost_median_s']:>9.2f}s "
            f"{c['chunk_spark_median_s'] or 0:>5.2f}s {c['chunk_merge_median_s'] or 0:>5.2f}s "
            f"{c['latency_p50_s']:>6.2f}s {c['peak_rss_mib']:>8,}"
        )
    return "\n".join(lines)


def main() -> None:
    """Run every (engine, chunk size) cell; print the table, write the JSON under the home."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default=".state/bench", help="where runs, logs and JSON go")
    parser.add_argument("--engines", default=",".join(ENGINES), help=f"of {', '.join(ENGINES)}")
    parser.add_argument(
        "--chunk-sizes", default=",".join(map(str, CHUNK_SIZES)), help="rows per chunk"
    )
    parser.add_argument("--rows", type=int, default=0, help="generated rows (0: the full set)")
    args = parser.parse_args()
    home = Path(args.home).resolve()
    source = home / ("source-1x" if not args.rows else f"source-{args.rows}")
    if not (source / "transactions.csv").exists():
        generate(source, **({"rows": args.rows} if args.rows else {}))
    transactions, importance = source / "transactions.csv", source / "CustomerImportance.csv"
    cells = []
    for engine in [e for e in args.engines.split(",") if e]:
        extra, env = ENGINES[engine]
        for chunk_rows in (int(s) for s in args.chunk_sizes.split(",") if s):
            name = f"{engine.replace('[', '').replace(']', '')}-{chunk_rows}"
            run_home = home / "scaling" / name
            shutil.rmtree(run_home, ignore_errors=True)  # each cell is a fresh stream
            print(f"running {engine} with {chunk_rows:,}-row chunks ...", flush=True)
            run = run_path(
                name,
                run_home,
                transactions,
                importance,
                0.0,
                extra_args=[*extra, "--chunk-rows", str(chunk_rows)],
                env=env,
            )
            cells.append(_cell(engine, chunk_rows, run.summary()))
            print(table(cells[-1:]).splitlines()[-1], flush=True)
    machine = {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_at_end": [round(x, 2) for x in psutil.getloadavg()],
    }
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine,
        "rows": sum(1 for _ in transactions.open("rb")) - 1,
        "cells": cells,
    }
    out = home / "scaling.json"
    out.write_text(json.dumps(result, indent=2))
    print(table(cells))
    print(f"machine: {machine}; JSON: {out}")


if __name__ == "__main__":
    main()
