"""A file read in several splits gives exactly what one split gives: line numbers and pairs."""

from __future__ import annotations

from contextlib import contextmanager

from txn_assets.lib.spark_parsing import collect_summaries
from txn_assets.lib.state.engine import CANONICAL_LAYOUT
from txn_assets_tests.builders import txns, write_chunk


@contextmanager
def _split_size(spark, size: int):
    key = "spark.sql.files.maxPartitionBytes"
    before = spark.conf.get(key)
    spark.conf.set(key, str(size))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _comparable(summary):
    pairs = sorted(
        (r["merchant"], r["customer"], r["txn_count"], str(r["amount_sum"]), r["female_rows"])
        for r in summary.aggregates
    )
    return summary.header, pairs, summary.bad_rows


def test_splits_of_one_file_number_lines_and_merge_pairs_like_one_split(spark, tmp_path):
    # The same pair before and after the split boundaries, bad rows and blank lines throughout.
    rows = []
    for block in range(6):
        rows += [*txns("C1", "M1", 5, "10.50"), *txns(f"C{block + 2}", "M2", 3, "7.25", "M")]
        rows += [f"1,'C9','3','F','28007','M3','28007','es_food',oops{block},0", ""]
    chunk = write_chunk(tmp_path / "chunk.csv", rows)

    whole = collect_summaries(spark, [str(chunk)], CANONICAL_LAYOUT, "transactions")["chunk.csv"]
    with _split_size(spark, 1024):
        assert spark.read.text(str(chunk)).rdd.getNumPartitions() > 3  # really several splits
        split = collect_summaries(spark, [str(chunk)], CANONICAL_LAYOUT, "transactions")[
            "chunk.csv"
        ]

    assert _comparable(split) == _comparable(whole)
    assert [number for number, _ in whole.bad_rows] == [9 + 10 * b for b in range(6)]
    assert ("M1", "C1", 30, "315.000000", 30) in _comparable(whole)[1]
