"""PySpark parsing and per-chunk aggregation: one scan and one aggregation per batch of files.

Files are read as text and split here rather than by Spark's CSV reader, so that every bad row
keeps its line number and a precise reason, and so that only the DataFrame API is used (Spark
Connect has no RDD API). One `groupBy` yields everything a batch needs at once: per file, its
header line, the aggregate of every (merchant, customer) pair over the valid rows, and one group
per unusable row with its reason.

Line numbers come with the read: with `openCostInBytes` and `maxPartitionBytes` large, each file
is exactly one partition, so the record number inside the partition (the low 33 bits of
`monotonically_increasing_id`) is the line's position in the file; no window, no sort. The
aggregation reports the partitions each file came from, and `collect_summaries` refuses a batch
where a file spanned two.

Building column expressions costs more than running the plan (each is a round trip to the JVM in
a classic session), so a `Parser` builds them once per file layout and reuses them per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, LongType, StringType

from txn_assets.lib import settings
from txn_assets.lib.csv_header import CsvLayout

# Amounts and weights keep six decimal places: BankSim has two, headroom costs nothing.
MONEY = DecimalType(20, 6)
SUM = DecimalType(30, 6)
# A comma outside quotes (' or "): a comma inside a quoted field belongs to the field.
FIELD_SEPARATOR = r",(?=(?:[^'\"]|'[^']*'|\"[^\"]*\")*$)"
# A field that opens a quote and holds a comma before the quote closes.
QUOTED_COMMA = r"(?:^|,)\s*(?:'[^']*,|\"[^\"]*,)"
# Spark SQL settings that keep each file in one partition of its own (see the module docstring).
ONE_PARTITION_PER_FILE = {
    "spark.sql.files.openCostInBytes": str(1 << 40),
    "spark.sql.files.maxPartitionBytes": str(1 << 40),
}
_RECORD_BITS = (1 << 33) - 1


class SplitFileError(RuntimeError):
    """A file was read as more than one partition, so its line numbers cannot be trusted."""


def _split_fields(line: Column) -> Column:
    """The fields of a line. A plain split is right unless a quoted field holds a comma: only
    such lines pay for the quote-aware regular expression."""
    return F.when(line.rlike(QUOTED_COMMA), F.split(line, FIELD_SEPARATOR, -1)).otherwise(
        F.split(line, ",", -1)
    )


def _unquote(field: Column) -> Column:
    return F.trim(F.btrim(F.trim(field), F.lit("'\"")))


def _field(parts: Column, position: int | None) -> Column:
    if position is None:
        return F.lit(None).cast(StringType())
    return _unquote(F.get(parts, position))


def _lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """(file, part, position, line): every line of the files, positions from 0 (the header)."""
    return (
        spark.read.option("lineSep", "\n")
        .text(list(paths))
        .select(
            F.col("_metadata.file_name").alias("file"),
            F.spark_partition_id().alias("part"),
            F.monotonically_increasing_id().bitwiseAND(_RECORD_BITS).alias("position"),
            F.regexp_replace(F.col("value"), "\r$", "").alias("line"),
        )
    )


def _line_problem(line: Column) -> Column:
    """Why a line cannot even be split: NUL bytes, or bytes that are not UTF-8."""
    return F.when(F.instr(line, "\u0000") > 0, F.lit("contains a NUL byte")).when(
        ~F.is_valid_utf8(line) | (F.instr(line, "\ufffd") > 0), F.lit("not valid UTF-8")
    )


def _amount_problem(text: Column, name: str, limit: float) -> Column:
    number = text.try_cast("double")
    shown = F.coalesce(text, F.lit(""))
    return (
        F.when(
            number.isNull() | F.isnan(number) | (F.abs(number) == float("inf")),
            F.concat(F.lit(f"{name} is not a number: "), shown),
        )
        .when(number < 0, F.concat(F.lit(f"{name} is negative: "), shown))
        .when(
            number > limit,
            F.concat(
                F.lit(f"{name} is absurdly large: "), shown, F.lit(f" (more than {limit:,.0f})")
            ),
        )
    )


@dataclass(frozen=True)
class Parser:
    """The plan of one file layout: prebuilt expressions, applied to any batch of files.

    Each stage is its own projection, so that a line split once is read many times: in one
    projection every use of a field would split the line again.
    """

    stages: tuple[tuple[Column, ...], ...]  # successive projections of every line
    keep: Column  # which lines count (not blank)
    keys: tuple[Column, ...]  # group keys: file, bad row, pair
    aggregates: tuple[Column, ...]

    def summarise(self, spark: SparkSession, paths: Sequence[str]) -> DataFrame:
        """One row per (file, pair) aggregate, per unusable row, and per header line."""
        frame = _lines(spark, paths)
        for stage in self.stages:
            frame = frame.select(*stage)
        return frame.filter(self.keep).groupBy(*self.keys).agg(*self.aggregates)


def _rows_with(condition: Column, name: str) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0)).cast(LongType()).alias(name)


def _build(layout: CsvLayout, kind: str, limit: float) -> Parser:
    passed = (F.col("file"), F.col("part"), F.col("position"), F.col("line"))
    split = (*passed, _split_fields(F.col("line")).alias("parts"))
    parts = F.col("parts")
    if kind == "transactions":
        names = {
            "customer": "customer",
            "merchant": "merchant",
            "gender": "gender",
            "amount": "amount",
            "step": "step",
        }
        pair = ("merchant", "customer")
        amount_name = "amount"
    else:
        names = {"customer": "Source", "merchant": "Target", "amount": "Weight"}
        pair = ("customer", "merchant")
        amount_name = "weight"
    fields = (
        *passed,
        F.size(parts).alias("field_count"),
        *(_field(parts, layout.position(column)).alias(name) for name, column in names.items()),
    )
    line, position = F.col("line"), F.col("position")
    customer, merchant, amount = F.col("customer"), F.col("merchant"), F.col("amount")
    count = F.col("field_count")
    reason = (
        _line_problem(line)
        .when(
            count != layout.field_count,
            F.concat(F.lit(f"expected {layout.field_count} fields, got "), count.cast("string")),
        )
        .when(customer == "", F.lit("empty customer"))
        .when(merchant == "", F.lit("empty merchant"))
        .otherwise(_amount_problem(amount, amount_name, limit))
    )
    if kind == "transactions" and layout.position("step") is not None:
        step = F.col("step")
        reason = F.coalesce(
            reason,
            F.when(
                step.try_cast(IntegerType()).isNull(),
                F.concat(F.lit("step is not an integer: "), step),
            ),
        )
    judged = (*passed, *(F.col(name) for name in names), reason.alias("reason"))
    is_header = position == 0
    unusable = is_header | F.col("reason").isNotNull()
    keyed = (
        F.col("file"),
        F.col("part"),
        # Groups: a bad row (and the header) alone, keyed by its position; good rows by pair.
        F.when(unusable, position).alias("row_number"),
        *(F.when(~unusable, F.col(name)).alias(name) for name in pair),
        F.when(~unusable, amount.try_cast(MONEY)).alias("amount"),
        *((F.when(~unusable, F.col("gender")).alias("gender"),) if kind == "transactions" else ()),
        F.when(~is_header, F.col("reason")).alias("reason"),
        F.when(is_header, line).alias("header"),
        (is_header | (F.trim(line) != "")).alias("is_row"),  # blank lines are not rows
    )
    keys = (F.col("file"), F.col("row_number"), *(F.col(name) for name in pair))
    parts_seen = (F.min("part").alias("first_part"), F.max("part").alias("last_part"))
    first = (F.first("reason").alias("reason"), F.first("header").alias("header"))
    if kind == "transactions":
        gender = F.col("gender")
        aggregates: tuple[Column, ...] = (
            F.count(F.lit(1)).cast(LongType()).alias("txn_count"),
            F.sum("amount").cast(SUM).alias("amount_sum"),
            F.coalesce(F.max(gender == "F"), F.lit(False)).alias("seen_female"),
            F.coalesce(F.max(gender == "M"), F.lit(False)).alias("seen_male"),
            _rows_with(gender == "F", "female_rows"),
            _rows_with(gender == "M", "male_rows"),
            _rows_with(gender.isin("E", "U"), "neither_rows"),
            _rows_with(~gender.isin("F", "M", "E", "U"), "unknown_gender_rows"),
            *first,
            *parts_seen,
        )
    else:
        aggregates = (
            F.sum("amount").cast(SUM).alias("weight_sum"),
            F.count(F.lit(1)).cast(LongType()).alias("weight_rows"),
            *first,
            *parts_seen,
        )
    return Parser((split, fields, judged, keyed), F.col("is_row"), keys, aggregates)


@cache
def _parser(session_key: int, layout: CsvLayout, kind: str, limit: float) -> Parser:
    return _build(layout, kind, limit)


def parser_for(
    spark: SparkSession, layout: CsvLayout, kind: str, limit: float = settings.MAX_AMOUNT
) -> Parser:
    """The prebuilt plan for files of this layout in this session (built on first use)."""
    if kind not in ("transactions", "importance"):
        raise ValueError(f"unknown file kind {kind!r}")
    return _parser(id(spark), layout, kind, limit)


@dataclass
class FileSummary:
    """One file's share of a batch: its header line, pair aggregates and unusable rows."""

    header: str | None
    aggregates: list[dict[str, Any]]
    bad_rows: list[tuple[int, str]]  # (row number, reason), in row order


def collect_summaries(
    spark: SparkSession, paths: Sequence[str], layout: CsvLayout, kind: str
) -> dict[str, FileSummary]:
    """Run one batch: per file base name, what the file holds (bounded by the batch's rows)."""
    rows = parser_for(spark, layout, kind).summarise(spark, paths).toArrow().to_pylist()
    found: dict[str, FileSummary] = {}
    parts: dict[str, set[int]] = {}
    for row in rows:
        summary = found.setdefault(row["file"], FileSummary(None, [], []))
        parts.setdefault(row["file"], set()).update((row["first_part"], row["last_part"]))
        if row["header"] is not None:
            summary.header = row["header"]
        elif row["row_number"] is not None:
            summary.bad_rows.append((int(row["row_number"]), row["reason"]))
        else:
            summary.aggregates.append(row)
    split = sorted(name for name, seen in parts.items() if len(seen) > 1)
    if split:
        raise SplitFileError(f"files read as several partitions: {split}")
    for summary in found.values():
        summary.bad_rows.sort()
    return found
