"""`make bench`: prints speed and memory figures of the hot paths on the full-size data set.

Figures, not assertions: speed targets live here, never in timed unit tests. It starts its own
throwaway PostgreSQL (and Spark Connect with --connect) and stops them.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import psutil
import psycopg


def _rss_mb(process: psutil.Process) -> float:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += child.memory_info().rss
    return total / 2**20


def _size(path: str) -> int:
    """A staged chunk's bytes (the local store's files), as Mechanism Y passes them."""
    return Path(path).stat().st_size


def _stats(name: str, values: list[float], unit: str = "s") -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return f"{name:<38} median {statistics.median(values):.3f}{unit}  p95 {p95:.3f}{unit}  max {values[-1]:.3f}{unit}"


def main() -> None:
    """Run the benchmark and print one line per figure."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--chunks", type=int, default=20, help="chunks to apply (of 60 in the full data)"
    )
    parser.add_argument(
        "--connect", action="store_true", help="also measure through a local Spark Connect server"
    )
    args = parser.parse_args()

    from txn_assets.lib.checksums import md5_file
    from txn_assets.lib.generate import generate
    from txn_assets.lib.producer import StagedChunk, cut_next_chunk
    from txn_assets.lib.rules import DetectionRules
    from txn_assets.lib.services.postgres import ensure_database, start_postgres, stop_postgres
    from txn_assets.lib.sources.local_file import LocalFileSource
    from txn_assets.lib.spark_session import build_spark_session
    from txn_assets.lib.state import engine
    from txn_assets.lib.state.migrate import migrate
    from txn_assets.lib.stores.local import LocalFolderStore

    me = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="txn-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        files = generate(root / "source")
        gen_s = time.perf_counter() - started
        print(f"{'generate 594,643 rows':<38} {gen_s:.2f}s  ({files.rows / gen_s:,.0f} rows/s)")

        server = start_postgres(root / "pg")
        try:
            ensure_database(server.url(), "txn")
            url = server.url("txn")
            migrate(url)
            store = LocalFolderStore(root / "blob")
            source = LocalFileSource(files.transactions)
            cut_times, staged = [], []
            with psycopg.connect(url) as conn:
                for _ in range(args.chunks):
                    t = time.perf_counter()
                    chunk = cut_next_chunk(conn, source, store, "staging", 10_000)
                    cut_times.append(time.perf_counter() - t)
                    assert chunk is not None
                    staged.append(chunk)
            print(_stats("X: cut + stage one chunk", cut_times))

            spark = build_spark_session()
            t = time.perf_counter()
            with psycopg.connect(url) as conn:
                engine.load_weights(
                    conn, lambda: spark, str(files.importance), md5_file(files.importance)
                )
            print(f"{'Y: load CustomerImportance (once)':<38} {time.perf_counter() - t:.2f}s")

            spark_times, total_times = [], []
            with psycopg.connect(url) as conn:
                for chunk in staged:
                    path = store.uri(chunk.key)
                    t = time.perf_counter()
                    engine.summarise_files(spark, [path], engine.CANONICAL_LAYOUT, "transactions")
                    spark_times.append(time.perf_counter() - t)
                    result = engine.apply_chunk(
                        conn, spark, chunk.index, path, chunk.md5, DetectionRules()
                    )
                    total_times.append(result.seconds)
            # The first chunks include JIT warm-up; the steady state is what a stream sees.
            steady = total_times[3:] or total_times
            print(_stats("Y: Spark parse+aggregate (one action)", spark_times[3:] or spark_times))
            print(_stats("Y: apply one chunk (Spark + PostgreSQL)", steady))
            pg = [a - b for a, b in zip(total_times[3:], spark_times[3:], strict=False)]
            if pg:
                print(_stats("Y: PostgreSQL merge + detect (derived)", pg))
            print(
                f"{'Y: steady throughput':<38} {len(steady) / sum(steady):.2f} chunks/s "
                f"({10_000 * len(steady) / sum(steady):,.0f} rows/s)"
            )
            # A run that is behind parses its batch in one Spark action (apply_chunks).
            more: list[StagedChunk] = []
            with psycopg.connect(url) as conn:
                while len(more) < 10 and (
                    c := cut_next_chunk(conn, source, store, "staging", 10_000)
                ):
                    more.append(c)
                t = time.perf_counter()
                for i in range(0, len(more), 5):
                    batch = [
                        engine.ChunkInput(c.index, store.uri(c.key), c.md5) for c in more[i : i + 5]
                    ]
                    engine.apply_chunks(conn, spark, batch, DetectionRules())
                batched = time.perf_counter() - t
            print(
                f"{'Y: batched, 5 chunks per Spark action':<38} {len(more) / batched:.2f} chunks/s "
                f"({10_000 * len(more) / batched:,.0f} rows/s)"
            )
            print(
                f"{'memory: this process + children (RSS)':<38} {_rss_mb(me):,.0f} MiB (Spark JVM included)"
            )

            spark.stop()  # a process holds a classic or a Connect session, not both
            if args.connect:
                from txn_assets.lib.services.spark_connect import start_spark_connect

                server_c = start_spark_connect(root / "spark")
                try:
                    t = time.perf_counter()
                    remote = build_spark_session(server_c.remote)
                    print(f"{'Spark Connect: client session':<38} {time.perf_counter() - t:.2f}s")
                    times = []
                    for chunk in staged[: min(10, len(staged))]:
                        t = time.perf_counter()
                        engine.summarise_files(
                            remote, [store.uri(chunk.key)], engine.CANONICAL_LAYOUT, "transactions"
                        )
                        times.append(time.perf_counter() - t)
                    print(_stats("Spark Connect: parse+aggregate", times[2:] or times))
                    remote.stop()
                finally:
                    server_c.stop()
        finally:
            stop_postgres(root / "pg")


if __name__ == "__main__":
    main()
