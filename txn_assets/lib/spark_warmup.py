"""Warm a new Spark session on tiny files, so that the first real chunk does not pay for it.

The first action of a session loads the classes of the text source, the parser's expressions
and the aggregation, and compiles their generated code; Spark caches compiled code by its
source, so later batches of the same plan reuse it. Done in the background while PostgreSQL
starts and the reference data is read, it takes seconds off the first chunk's latency.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path

from pyspark.sql import SparkSession

from txn_assets.lib import spark_parsing
from txn_assets.lib.csv_header import importance_layout, transactions_layout
from txn_assets.lib.generate import IMPORTANCE_HEADER, TRANSACTIONS_HEADER
from txn_assets.lib.parsed_ahead import announce_importance

_TRANSACTION_ROWS = (
    "0,'C1','4','F','28007','M1','28007','es_food',12.5,0",
    "0,'C2','2','M','28007','M1','28007','es_food',not-a-number,0",
    "",
)
_IMPORTANCE_ROWS = ("'C1','M1',0.5,'es_food',0", "'C2','M1',-1,'es_food',0")


def warm_up(spark: SparkSession, scratch: Path) -> list[spark_parsing.FileSummary]:
    """Run the transactions and the reference-file plans once each on a few lines."""
    scratch.mkdir(parents=True, exist_ok=True)
    chunk = scratch / "warm-up-chunk.csv"
    chunk.write_text("\n".join((TRANSACTIONS_HEADER, *_TRANSACTION_ROWS)) + "\n")
    weights = scratch / "warm-up-importance.csv"
    weights.write_text("\n".join((IMPORTANCE_HEADER, *_IMPORTANCE_ROWS)) + "\n")
    found = spark_parsing.collect_summaries(  # as a chunk is parsed: by one task, its size known
        spark,
        [str(chunk)],
        transactions_layout(TRANSACTIONS_HEADER),
        "transactions",
        chunk.stat().st_size,
    )
    found.update(
        spark_parsing.collect_summaries(
            spark, [str(weights)], importance_layout(IMPORTANCE_HEADER), "importance"
        )
    )
    return [found[chunk.name], found[weights.name]]


def start_in_background(
    config: dict[str, str],
    importance: Path | None = None,
    scratch_root: Path | None = None,
    hand_over: bool = False,
) -> threading.Thread:
    """Start this process's session with `config` and warm it, on a daemon thread.

    Whoever asks for the session later (dagster-pyspark's resource) gets the same one from
    `getOrCreate`, waiting for the start-up already under way instead of starting another.
    With `importance`, that file is parsed first, for the weights load (`parsed_ahead`): the
    new JVM's first action is then one the stream needs, not a second one competing with it.
    The warm-up's files and the copy parsed ahead live in temporary folders under
    `scratch_root` (the home's scratch folder, cleared when a command next starts on the
    home): a process killed mid warm-up leaves them there, not in the machine's /tmp.
    `hand_over`: the parse of `importance` is for loads in other processes too (a Spark
    Connect server's runs), through `scratch_root`.
    """

    if scratch_root is not None:
        scratch_root.mkdir(parents=True, exist_ok=True)
    announced = (
        announce_importance(importance, scratch_root, hand_over) if importance is not None else None
    )

    def start() -> None:
        from txn_assets.lib.spark_session import session_from_config

        try:
            if announced is not None:
                announced.run(lambda: session_from_config(config))
            with tempfile.TemporaryDirectory(prefix="txn-warm-up-", dir=scratch_root) as scratch:
                warm_up(session_from_config(config), Path(scratch))
        except Exception:  # the resource starts the session again and reports the failure
            logging.getLogger(__name__).warning("Spark warm-up failed", exc_info=True)

    thread = threading.Thread(target=start, name="spark-warm-up", daemon=True)
    thread.start()
    return thread
