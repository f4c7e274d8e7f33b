"""A file read in several splits gives exactly what one split gives: line numbers and pairs;
a small batch parsed by one task gives exactly what one task per split gives."""

from __future__ import annotations

from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from txn_assets.lib import spark_parsing
from txn_assets.lib.csv_header import importance_layout
from txn_assets.lib.generate import IMPORTANCE_HEADER
from txn_assets.lib.spark_parsing import (
    ONE_TASK_MAX_BYTES,
    FileSummary,
    collect_summaries,
    parser_for,
)
from txn_assets.lib.state.engine import CANONICAL_LAYOUT
from txn_assets_tests.builders import txns, write_chunk, write_importance


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
        for r in summary.aggregates.to_pylist()
    )
    return summary.header, pairs, summary.bad_rows


def test_splits_of_one_file_number_lines_and_merge_pairs_like_one_split(spark, tmp_path):
    # The same pair before and after the split boundaries, bad rows and blank lines throughout.
    chunk = _mixed_chunk(tmp_path / "chunk.csv", 6)

    whole = collect_summaries(spark, [str(chunk)], CANONICAL_LAYOUT, "transactions")["chunk.csv"]
    with _split_size(spark, 1024):
        assert spark.read.text(str(chunk)).rdd.getNumPartitions() > 3  # really several splits
        split = collect_summaries(spark, [str(chunk)], CANONICAL_LAYOUT, "transactions")[
            "chunk.csv"
        ]

    assert _comparable(split) == _comparable(whole)
    assert [number for number, _ in whole.bad_rows] == [9 + 10 * b for b in range(6)]
    assert ("M1", "C1", 30, "315.000000", 30) in _comparable(whole)[1]


def _mixed_chunk(path, block_count: int):
    """Pairs repeated across split boundaries, a bad row and a blank line in every block."""
    rows = []
    for block in range(block_count):
        rows += [*txns("C1", "M1", 5, "10.50"), *txns(f"C{block + 2}", "M2", 3, "7.25", "M")]
        rows += [f"1,'C9','3','F','28007','M3','28007','es_food',oops{block},0", ""]
    return write_chunk(path, rows)


def _executed_plan(frame) -> str:
    return frame._jdf.queryExecution().executedPlan().toString()


def test_a_small_batch_is_parsed_by_one_task_without_a_shuffle_and_gives_the_same_summaries(
    spark, tmp_path
):
    chunks = [str(_mixed_chunk(tmp_path / f"chunk-{i}.csv", 3 + i)) for i in range(3)]
    size = sum(Path(c).stat().st_size for c in chunks)
    parser = parser_for(spark, CANONICAL_LAYOUT, "transactions")
    assert "Exchange" in _executed_plan(parser.summarise(spark, chunks))
    assert "Exchange" not in _executed_plan(parser.summarise(spark, chunks, one_task=True))

    parallel = collect_summaries(spark, chunks, CANONICAL_LAYOUT, "transactions")
    one_task = collect_summaries(spark, chunks, CANONICAL_LAYOUT, "transactions", size)
    # One task over several splits per file: numbered per split before they are merged.
    with _split_size(spark, 1024):
        split_one_task = collect_summaries(spark, chunks, CANONICAL_LAYOUT, "transactions", size)
    for name in (f"chunk-{i}.csv" for i in range(3)):
        assert _comparable(one_task[name]) == _comparable(parallel[name])
        assert _comparable(split_one_task[name]) == _comparable(parallel[name])
    assert [n for n, _ in one_task["chunk-2.csv"].bad_rows] == [9 + 10 * b for b in range(5)]


@pytest.mark.parametrize(
    ("total_bytes", "one_task"),
    [(None, False), (1_000_000, True), (ONE_TASK_MAX_BYTES, True), (ONE_TASK_MAX_BYTES + 1, False)],
)
def test_only_a_batch_known_to_fit_one_split_runs_as_one_task(
    spark, tmp_path, monkeypatch, total_bytes, one_task
):
    chunk = str(_mixed_chunk(tmp_path / "chunk.csv", 1))
    asked = []
    summarise = spark_parsing.Parser.summarise

    def spy(self, spark, paths, one_task=False):
        asked.append(one_task)
        return summarise(self, spark, paths, one_task)

    monkeypatch.setattr(spark_parsing.Parser, "summarise", spy)
    found = collect_summaries(spark, [chunk], CANONICAL_LAYOUT, "transactions", total_bytes)
    assert asked == [one_task]
    assert found["chunk.csv"].bad_rows[0][0] == 9


@pytest.mark.parametrize("kind", ["transactions", "importance"])
def test_an_empty_summary_has_the_columns_and_types_of_a_parsed_one(spark, tmp_path, kind):
    # A batch's missing file and a parsed one go through the same COPY and sums.
    if kind == "transactions":
        path, layout = _mixed_chunk(tmp_path / "chunk.csv", 1), CANONICAL_LAYOUT
    else:
        path = write_importance(tmp_path / "chunk.csv", ["'C1','M1',0.5,'es_food',0"])
        layout = importance_layout(IMPORTANCE_HEADER)
    parsed = collect_summaries(spark, [str(path)], layout, kind)["chunk.csv"]
    assert parsed.aggregates.num_rows > 0
    empty = FileSummary.empty(kind).aggregates
    assert [(f.name, f.type) for f in parsed.aggregates.schema] == [
        (f.name, f.type) for f in empty.schema
    ]


def test_a_reference_file_read_in_several_splits_sums_its_weights_exactly_like_one(spark, tmp_path):
    # The same pair in every block: merged across splits, its decimal sum keeps its type.
    rows = [f"'C1','M1',0.1,'es_food',0\n'C{b + 2}','M2',{b}.25,'es_food',0" for b in range(40)]
    path = write_importance(tmp_path / "importance.csv", rows)
    layout = importance_layout(IMPORTANCE_HEADER)

    whole = collect_summaries(spark, [str(path)], layout, "importance")[path.name]
    with _split_size(spark, 512):
        assert spark.read.text(str(path)).rdd.getNumPartitions() > 3
        split = collect_summaries(spark, [str(path)], layout, "importance")[path.name]

    assert split.aggregates.schema == whole.aggregates.schema
    assert split.aggregates.sort_by("customer").equals(whole.aggregates.sort_by("customer"))
    c1 = [r for r in split.aggregates.to_pylist() if r["customer"] == "C1"]
    assert c1 == [
        {"customer": "C1", "merchant": "M1", "weight_rows": 40, "weight_sum": Decimal("4.000000")}
    ]
