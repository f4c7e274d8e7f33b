"""The chunk parsing runs unchanged over Spark Connect (the server ships in the pyspark wheel),
and every client process of our server joins one server session (Spark's generated code is
cached per session)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from txn_assets.lib.services.spark_connect import start_spark_connect
from txn_assets.lib.state.engine import CANONICAL_LAYOUT, summarise_files
from txn_assets_tests.builders import txns, write_chunk

# A process holds either a classic or a Connect session, so the Connect client runs in a child.
CLIENT = """
import json, sys
from txn_assets.lib.spark_session import build_spark_session
from txn_assets.lib.state.engine import CANONICAL_LAYOUT, summarise_files
spark = build_spark_session(sys.argv[1])
summary = summarise_files(spark, [sys.argv[2]], CANONICAL_LAYOUT, "transactions")["chunk.csv"]
from pathlib import Path
from txn_assets.lib.spark_warmup import warm_up
warmed = [s.bad_rows for s in warm_up(spark, Path(sys.argv[3]))]  # what `dev` runs on its server
spark.createDataFrame([(summary.aggregates.num_rows,)], "pairs int").createOrReplaceTempView("left_by_the_first_client")
print(json.dumps({"header": summary.header, "aggregates": summary.aggregates.to_pylist(), "bad_rows": summary.bad_rows, "warmed": warmed}, default=str))
"""
# A later run process: a temporary view lives in one server session only.
NEXT_CLIENT = """
import sys
from txn_assets.lib.spark_session import build_spark_session
spark = build_spark_session(sys.argv[1])
print(spark.conf.get("spark.python.sql.dataFrameDebugging.enabled"))  # the server's start decides
print(spark.table("left_by_the_first_client").first()["pairs"])
"""

# A `dev` that exits mid warm-up interrupts the warm-up's operation on the server.
INTERRUPTING_CLIENT = """
import sys, threading
from txn_assets.lib import spark_warmup
from txn_assets.lib.spark_session import spark_config
started = threading.Event()
def endless(spark, chunk):
    started.set()
    spark.range(10**14).selectExpr("max(id)").toArrow()
spark_warmup._parse_chunk = endless
thread = spark_warmup.start_in_background(spark_config(remote=sys.argv[1]), None)
started.wait(120)
print(spark_warmup.stop_warm_ups(timeout=60), thread.is_alive())
"""


def _client(code: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300, check=True
    ).stdout.strip()


@pytest.mark.slow
def test_parsing_and_the_warm_up_over_spark_connect_equal_the_classic_session(spark, tmp_path):
    rows = [*txns("C1", "M1", 3, "10.50"), *txns("C2", "M1", 2, "1.25", "M"), "1,'C9','3'"]
    chunk = write_chunk(tmp_path / "chunk.csv", rows)
    server = start_spark_connect(tmp_path / "spark")
    try:
        first = _client(CLIENT, server.remote, str(chunk), str(tmp_path / "warm"))
        # The next process finds the first one's session (and so its compiled plans).
        next_client = _client(NEXT_CLIENT, server.remote)
        interrupted = _client(INTERRUPTING_CLIENT, server.remote)
    finally:
        server.stop()
    assert next_client.splitlines()[-2:] == ["false", "2"]  # no call sites recorded; one session
    assert interrupted.splitlines()[-1] == "True False"  # ended, well before the job would
    remote = json.loads(first.splitlines()[-1])
    summary = summarise_files(spark, [str(chunk)], CANONICAL_LAYOUT, "transactions")["chunk.csv"]
    local = json.loads(
        json.dumps(
            {
                "header": summary.header,
                "aggregates": summary.aggregates.to_pylist(),
                "bad_rows": summary.bad_rows,
            },
            default=str,
        )
    )
    by_pair = lambda rows: sorted(rows, key=lambda r: (r["merchant"], r["customer"]))  # noqa: E731
    assert remote["header"] == local["header"]
    assert by_pair(remote["aggregates"]) == by_pair(local["aggregates"])
    assert remote["bad_rows"] == local["bad_rows"] == [[6, "expected 10 fields, got 3"]]
    assert remote["warmed"] == [
        [[2, "amount is not a number: not-a-number"]],
        [[2, "weight is negative: -1"]],
    ]
