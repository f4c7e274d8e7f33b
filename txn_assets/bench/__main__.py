"""`python -m txn_assets.bench`: the stream's paths and the recompute-all baseline, side by side."""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
from pathlib import Path
from typing import Any

import psutil

from txn_assets.bench.baseline import BaselineRun, recompute_all
from txn_assets.bench.sensor_path import run_sensor_path
from txn_assets.bench.stream_runs import PathRun, run_path, time_noop_rerun
from txn_assets.lib import settings
from txn_assets.lib.generate import FULL_ROWS, generate

# `txn-assets run` at one chunk per second and at full speed; the daemon's sensor path of
# `txn-assets dev` (Spark Connect, a run process per Y run) at one chunk per second.
PATHS = {"run-1s": 1.0, "run-0s": 0.0, "sensor-1s": 1.0}


def _slope(values: list[float]) -> tuple[float, float]:
    """Least-squares line through (chunk number, seconds): intercept and slope per chunk."""
    xs = range(1, len(values) + 1)
    mean_x, mean_y = statistics.mean(xs), statistics.mean(values)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, values, strict=True)) / sum(
        (x - mean_x) ** 2 for x in xs
    )
    return mean_y - slope * mean_x, slope


def _baseline_figures(run: BaselineRun, incremental_cost: float | None) -> dict[str, Any]:
    intercept, slope = _slope(run.chunk_seconds)
    figures: dict[str, Any] = {
        "rows": run.rows,
        "load_s": round(run.load_seconds, 2),
        "total_s": round(run.total_seconds, 2),
        "first_chunk_s": round(run.chunk_seconds[0], 4),
        "last_chunk_s": round(run.chunk_seconds[-1], 4),
        "growth_per_chunk_s": round(slope, 6),
        "detections": run.detections,
        "per_chunk_s": [round(s, 4) for s in run.chunk_seconds],
    }
    if incremental_cost is not None and slope > 0:
        crossover = max(0.0, (incremental_cost - intercept) / slope)
        figures["crossover_chunk"] = round(crossover)
        figures["crossover_rows"] = round(crossover) * settings.CHUNK_ROWS
    return figures


def _table(paths: list[dict[str, Any]], baselines: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'path':<9} {'wall':>7} {'summary':>8} {'start':>6} {'p50':>6} {'p95':>6} {'max':>6} {'rows/s':>8} "
        f"{'spark':>6} {'merge':>6} {'1st':>6} {'last':>6} {'RSS MiB':>8}"
    ]
    for p in paths:
        stage = p["stage_median_s"]
        summary = f"{p['summary_s']:>7.1f}s" if p.get("summary_s") is not None else f"{'-':>8}"
        lines.append(
            f"{p['path']:<9} {p['wall_s']:>6.1f}s {summary} {p['startup_s']:>5.1f}s {p['latency_p50_s']:>5.2f}s "
            f"{p['latency_p95_s']:>5.2f}s {p['latency_max_s']:>5.2f}s {p['rows_per_s'] or 0:>8,} "
            f"{stage.get('spark', 0):>5.2f}s {stage.get('merge_detect', 0):>5.2f}s "
            f"{p['first3_chunk_cost_s']:>5.2f}s {p['last3_chunk_cost_s']:>5.2f}s {p['peak_rss_mib']:>8,}"
        )
    for p in paths:
        if "runs" in p:
            r = p["runs"]
            lines.append(
                f"{p['path']}: weights run {r['weights_run_s']}s, {r['y_runs']} Y runs, "
                f"median Y run {r['y_run_median_s']}s (run start to end, as the Runs page shows)"
            )
    for scale, b in baselines.items():
        crossover = (
            f", incremental wins after chunk {b['crossover_chunk']} ({b['crossover_rows']:,} rows)"
            if "crossover_chunk" in b
            else ""
        )
        lines.append(
            f"baseline {scale} (pandas, recompute all): {b['total_s']:.1f}s for {b['rows']:,} rows, "
            f"load {b['load_s']:.1f}s, per chunk {b['first_chunk_s'] * 1000:.0f} ms first -> "
            f"{b['last_chunk_s'] * 1000:.0f} ms last, {b['detections']} detections{crossover}"
        )
    return "\n".join(lines)


def main() -> None:
    """Run the paths and the baseline; print the table, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", default=".state/bench", help="where runs, logs and JSON go")
    parser.add_argument("--paths", default=",".join(PATHS), help=f"of {', '.join(PATHS)}")
    parser.add_argument(
        "--baseline-scales", default="1", help="data sizes for the baseline, e.g. 1,10"
    )
    args = parser.parse_args()
    home = Path(args.home).resolve()
    if not (home / "source-1x" / "transactions.csv").exists():
        generate(home / "source-1x")
    transactions = home / "source-1x" / "transactions.csv"
    importance = home / "source-1x" / "CustomerImportance.csv"
    runs: list[PathRun] = []
    sensor_runs: dict[str, Any] = {}
    for name in [p for p in args.paths.split(",") if p]:
        run_home = home / "runs" / name
        shutil.rmtree(run_home, ignore_errors=True)  # each run starts a fresh stream
        print(f"running {name} ...", flush=True)
        if name.startswith("sensor"):
            sensor, sensor_runs = run_sensor_path(run_home, transactions, importance, PATHS[name])
            sensor.name = name
            runs.append(sensor)
        else:
            runs.append(run_path(name, run_home, transactions, importance, PATHS[name]))
    paths = [r.summary() for r in runs]
    for path in paths:
        if path["path"].startswith("sensor"):
            path["runs"] = sensor_runs
    noop: dict[str, Any] = {}
    run_paths = [r for r in runs if not r.name.startswith("sensor")]
    if run_paths:
        print("rerunning 20 applied partitions ...", flush=True)
        seconds = time_noop_rerun(home / "runs" / run_paths[-1].name, transactions, importance, 20)
        noop = {"partitions": 20, "seconds": round(seconds, 2)}
    fastest = next((p for p in paths if p["path"] == "run-0s"), paths[0] if paths else None)
    incremental = fastest["last3_chunk_cost_s"] if fastest else None
    baselines: dict[str, dict[str, Any]] = {}
    for scale in (int(s) for s in args.baseline_scales.split(",") if s):
        folder = home / f"source-{scale}x"
        if not (folder / "transactions.csv").exists():
            generate(folder, rows=FULL_ROWS * scale)
        print(f"running the baseline at {scale}x ...", flush=True)
        run = recompute_all(folder / "transactions.csv", folder / "CustomerImportance.csv", 10_000)
        baselines[f"{scale}x"] = _baseline_figures(run, incremental)
    machine = {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30),
        "python": platform.python_version(),
        "system": platform.platform(),
    }
    result = {"machine": machine, "paths": paths, "noop_rerun": noop, "baseline": baselines}
    out = home / "bench.json"
    out.write_text(json.dumps(result, indent=2, default=str))
    print(_table(paths, baselines))
    if noop:
        print(
            f"rerun of {noop['partitions']} applied partitions (no Spark): {noop['seconds']:.2f}s"
        )
    print(f"machine: {machine}; JSON: {out}")


if __name__ == "__main__":
    main()
