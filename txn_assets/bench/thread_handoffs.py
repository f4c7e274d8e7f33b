"""One chunk's Spark parse alone and beside a busy Python thread, at two GIL switch intervals.

`python -m txn_assets.bench.thread_handoffs [--parses 15]`: why `spark_session.
quick_thread_handoffs` exists. A parse makes ~100 calls to the JVM, each releasing the GIL while
Spark works; beside a thread running Python (in `run`: a Dagster run, the console) each call
waits up to the switch interval to get it back. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from txn_assets.lib import settings

PYTHON_DEFAULT_SECONDS = 0.005


def _chunks(folder: Path, count: int) -> list[Path]:
    """`count` generated chunks of full size, as Mechanism X stages them."""
    from txn_assets.lib.generate import generate

    source = generate(folder / "source", rows=count * settings.CHUNK_ROWS).transactions
    header, *lines = source.read_text().splitlines(keepends=True)
    chunks = []
    for index in range(count):
        chunk = folder / f"chunk-{index:06d}.csv"
        rows = lines[index * settings.CHUNK_ROWS : (index + 1) * settings.CHUNK_ROWS]
        chunk.write_text(header + "".join(rows))
        chunks.append(chunk)
    return chunks


def _busy(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(i * i for i in range(10_000))


def main() -> None:
    """Print the median parse of one chunk in each of the four conditions."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parses", type=int, default=15, help="parses per condition")
    args = parser.parse_args()

    from txn_assets.lib.spark_session import SWITCH_INTERVAL_SECONDS, build_spark_session
    from txn_assets.lib.state.engine import CANONICAL_LAYOUT, summarise_files

    with tempfile.TemporaryDirectory(prefix="txn-handoffs-") as scratch:
        chunks = _chunks(Path(scratch), 5)
        spark = build_spark_session()

        def parse_median(parses: int) -> float:
            seconds = []
            for index in range(parses):
                chunk = chunks[index % len(chunks)]
                started = time.perf_counter()
                summarise_files(
                    spark, [str(chunk)], CANONICAL_LAYOUT, "transactions", chunk.stat().st_size
                )
                seconds.append(time.perf_counter() - started)
            return statistics.median(seconds)

        parse_median(3 * args.parses)  # the JVM compiles the plan's code first
        for interval in (PYTHON_DEFAULT_SECONDS, SWITCH_INTERVAL_SECONDS):
            sys.setswitchinterval(interval)
            alone = parse_median(args.parses)
            stop = threading.Event()
            busy = threading.Thread(target=_busy, args=(stop,), daemon=True)
            busy.start()
            try:
                beside = parse_median(args.parses)
            finally:
                stop.set()
                busy.join()
            print(
                f"switch interval {interval * 1000:.1f} ms: one chunk's parse {alone:.3f} s alone, "
                f"{beside:.3f} s beside a busy Python thread",
                flush=True,
            )


if __name__ == "__main__":
    main()
