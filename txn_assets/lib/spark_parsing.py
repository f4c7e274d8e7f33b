"""PySpark parsing and per-chunk aggregation: one scan and one aggregation per batch of files.

Files are read as text and split here rather than by Spark's CSV reader, so that every bad row
keeps its line number and a precise reason, and so that only the DataFrame API is used (Spark
Connect has no RDD API). One `groupBy` yields everything a batch needs at once: per file, its
header line, the aggregate of every (merchant, customer) pair over the valid rows, one group
per unusable row with its reason, and the number of lines of each split of the file.

Line numbers come with the read, without a window or a sort: each split of a file is a
partition of its own (`SPLIT_SETTINGS`), so the record number inside the partition (the low 33
bits of `monotonically_increasing_id`) is the line's position in its split, and the splits'
line counts, in file order, give each split's first line. A chunk is one split; the large
reference file is read as several, in parallel. The aggregation reports which partitions each
split came from, and `collect_summaries` refuses a batch where that assumption broke.

A batch no larger than one split (a few chunks) is read by one task (`coalesce(1)` after the
numbering): its aggregation then needs no shuffle and the action is one stage instead of two.

Building column expressions costs more than running the plan (each is a round trip to the JVM in
a classic session), so a `Parser` builds them once per file layout and reuses them per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType, IntegerType, LongType, StringType

from txn_assets.lib import settings
from txn_assets.lib.csv_header import CsvLayout

# Amounts and weights keep six decimal places: BankSim has two, headroom costs nothing.
MONEY = DecimalType(20, 6)
SUM = DecimalType(30, 6)
# Wide enough to tell an absurdly large amount from one that is not a number at all.
CHECKED = DecimalType(38, 6)
# A comma outside quotes (' or "): a comma inside a quoted field belongs to the field.
FIELD_SEPARATOR = r",(?=(?:[^'\"]|'[^']*'|\"[^\"]*\")*$)"
# Spark SQL settings: every split of a file is a partition of its own (packing splits of several
# files into one partition would mix their record numbers), and a split is at most 16 MB, so a
# chunk is read in one piece and the reference file in several, on all cores.
SPLIT_BYTES = 16 << 20
SPLIT_SETTINGS = {
    "spark.sql.files.openCostInBytes": str(1 << 40),
    "spark.sql.files.maxPartitionBytes": str(SPLIT_BYTES),
}
# A batch no larger than one split is parsed and aggregated by one task (no shuffle): measured
# on 2 cores, one 10,000-row chunk 0.68 -> 0.58 s, ten chunks 1.46 -> 1.28 s. Larger batches
# (the reference file, big chunks on a cluster) keep one task per split, in parallel.
ONE_TASK_MAX_BYTES = SPLIT_BYTES
_RECORD_BITS = (1 << 33) - 1
# How a field may be quoted, and what is trimmed from both of its ends (`importance_parsing`
# applies the same rules to the lines it reads without Spark).
QUOTES = ("'", '"')
FIELD_TRIM = " '\""
# The reference file's columns, by the names the parser gives them.
IMPORTANCE_COLUMNS = {"customer": "Source", "merchant": "Target", "amount": "Weight"}


class SplitFileError(RuntimeError):
    """Splits of files shared a partition, so their line numbers cannot be trusted."""


def _lines(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """(file, block, part, index, line): every line, numbered within its split."""
    return (
        spark.read.option("lineSep", "\n")
        .text(list(paths))
        .select(
            F.col("_metadata.file_name").alias("file"),
            F.col("_metadata.file_block_start").alias("block"),
            F.spark_partition_id().alias("part"),
            F.monotonically_increasing_id().bitwiseAND(_RECORD_BITS).alias("index"),
            F.rtrim(F.col("value"), F.lit("\r")).alias("line"),
        )
    )


def _opens_without_closing(field: Column) -> Column:
    start, end = F.ltrim(field), F.rtrim(field)
    first, *rest = [
        start.startswith(quote) & ~(end.endswith(quote) & (F.length(end) > 1)) for quote in QUOTES
    ]
    for other in rest:
        first = first | other
    return first


def _split_stage(layout: CsvLayout, used: Sequence[int]) -> Column:
    """The fields of a line. A plain split is right unless a quoted field holds a comma, which
    shows as a wrong field count or a used field that opens a quote and does not close it: only
    such lines pay for the quote-aware regular expression."""
    plain = F.col("plain")
    suspicious = F.size(plain) != layout.field_count
    for position in used:
        suspicious = suspicious | _opens_without_closing(F.get(plain, position))
    return F.when(suspicious, F.split(F.col("line"), FIELD_SEPARATOR, -1)).otherwise(plain)


def _field(parts: Column, position: int | None) -> Column:
    """A field without the spaces and quotes around it (None for a column the file lacks)."""
    if position is None:
        return F.lit(None).cast(StringType())
    return F.btrim(F.get(parts, position), F.lit(FIELD_TRIM))


def _line_problem(line: Column) -> Column:
    """Why a line cannot even be split: NUL bytes, or bytes that are not UTF-8."""
    return F.when(F.instr(line, "\u0000") > 0, F.lit("contains a NUL byte")).when(
        ~F.is_valid_utf8(line), F.lit("not valid UTF-8")
    )


def _amount_problem(text: Column, name: str, limit: float) -> Column:
    number = text.try_cast(CHECKED)  # NaN, inf and text are no decimal
    shown = F.coalesce(text, F.lit(""))
    return (
        F.when(number.isNull(), F.concat(F.lit(f"{name} is not a number: "), shown))
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
    keys: tuple[Column, ...]  # group keys: file, split, bad row, pair
    aggregates: tuple[Column, ...]

    def summarise(
        self, spark: SparkSession, paths: Sequence[str], one_task: bool = False
    ) -> DataFrame:
        """One row per (file, split, pair) aggregate, per unusable row and header line, and per
        split's blank lines. With one_task, the lines (numbered per split first) are parsed and
        aggregated by a single task, without a shuffle."""
        frame = _lines(spark, paths)
        if one_task:
            frame = frame.coalesce(1)
        for stage in self.stages:
            frame = frame.select(*stage)
        return frame.groupBy(*self.keys).agg(*self.aggregates)


def _rows_with(condition: Column, name: str) -> Column:
    return F.sum(F.when(condition, 1).otherwise(0)).cast(LongType()).alias(name)


def _build(layout: CsvLayout, kind: str, limit: float) -> Parser:
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
        names = IMPORTANCE_COLUMNS
        pair = ("customer", "merchant")
        amount_name = "weight"
    used = [p for p in (layout.position(c) for c in names.values()) if p is not None]
    passed = (F.col("file"), F.col("block"), F.col("part"), F.col("index"), F.col("line"))
    plain = (*passed, F.split(F.col("line"), ",", -1).alias("plain"))
    split = (*passed, _split_stage(layout, used).alias("parts"))
    parts = F.col("parts")
    fields = (
        *passed,
        F.size(parts).alias("field_count"),
        *(_field(parts, layout.position(column)).alias(name) for name, column in names.items()),
    )
    line = F.col("line")
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
    is_header = (F.col("block") == 0) & (F.col("index") == 0)
    is_blank = ~is_header & (F.trim(line) == "")  # blank lines are not rows
    judged = (
        *passed,
        *(F.col(name) for name in names),
        F.when(~is_header & ~is_blank, reason).alias("reason"),
        is_header.alias("is_header"),
        is_blank.alias("is_blank"),
    )
    header, blank, bad = F.col("is_header"), F.col("is_blank"), F.col("reason").isNotNull()
    unusable = header | blank | bad
    keyed = (
        F.col("file"),
        F.col("block"),
        F.col("part"),
        # Groups: a bad row (and the header) alone, keyed by its index in its split; a split's
        # blank lines together (-1); good rows by pair.
        F.when(header | bad, F.col("index")).when(blank, F.lit(-1)).alias("row"),
        *(F.when(~unusable, F.col(name)).alias(name) for name in pair),
        F.when(~unusable, amount.try_cast(MONEY)).alias("amount"),
        *((F.when(~unusable, F.col("gender")).alias("gender"),) if kind == "transactions" else ()),
        F.col("reason"),
        F.when(header, line).alias("header"),
    )
    # A group's reason and header line are the same for all its lines (a bad row and the header
    # are groups of one line; blank and good lines have neither), so they are keys: with only
    # fixed-width aggregates left, Spark aggregates with a hash map instead of sorting the batch.
    keys = (
        F.col("file"),
        F.col("block"),
        F.col("row"),
        *(F.col(name) for name in pair),
        F.col("reason"),
        F.col("header"),
    )
    common = (
        F.count(F.lit(1)).cast(LongType()).alias("lines"),
        F.min("part").alias("first_part"),
        F.max("part").alias("last_part"),
    )
    if kind == "transactions":
        gender = F.col("gender")
        aggregates: tuple[Column, ...] = (
            F.sum("amount").cast(SUM).alias("amount_sum"),
            F.coalesce(F.max(gender == "F"), F.lit(False)).alias("seen_female"),
            F.coalesce(F.max(gender == "M"), F.lit(False)).alias("seen_male"),
            _rows_with(gender == "F", "female_rows"),
            _rows_with(gender == "M", "male_rows"),
            _rows_with(gender.isin("E", "U"), "neither_rows"),
            _rows_with(~gender.isin("F", "M", "E", "U"), "unknown_gender_rows"),
            *common,
        )
    else:
        aggregates = (F.sum("amount").cast(SUM).alias("weight_sum"), *common)
    return Parser((plain, split, fields, judged, keyed), keys, aggregates)


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


# What a file's pair aggregates hold, per file kind: the pair (in the file's column order), the
# count of its rows, the sums and the flags; Spark's `lines` count is the pair's row count.
PAIR_COLUMNS = {
    "transactions": ("merchant", "customer"),
    "importance": ("customer", "merchant"),
}
_COUNTED = {"transactions": "txn_count", "importance": "weight_rows"}
_SUMMED = {
    "transactions": (
        "amount_sum",
        "female_rows",
        "male_rows",
        "neither_rows",
        "unknown_gender_rows",
    ),
    "importance": ("weight_sum",),
}
_EITHER = {"transactions": ("seen_female", "seen_male"), "importance": ()}
_COUNT_TYPE, _SUM_TYPE = pa.int64(), pa.decimal128(SUM.precision, SUM.scale)
_ARROW_TYPES = {
    "merchant": pa.string(),
    "customer": pa.string(),
    "txn_count": _COUNT_TYPE,
    "weight_rows": _COUNT_TYPE,
    "amount_sum": _SUM_TYPE,
    "weight_sum": _SUM_TYPE,
    "female_rows": _COUNT_TYPE,
    "male_rows": _COUNT_TYPE,
    "neither_rows": _COUNT_TYPE,
    "unknown_gender_rows": _COUNT_TYPE,
    "seen_female": pa.bool_(),
    "seen_male": pa.bool_(),
}


def aggregate_columns(kind: str) -> tuple[str, ...]:
    """The columns of a file's pair aggregates, in order."""
    return (*PAIR_COLUMNS[kind], _COUNTED[kind], *_SUMMED[kind], *_EITHER[kind])


@dataclass
class FileSummary:
    """One file's share of a batch: its header line, pair aggregates and unusable rows.

    The aggregates stay an Arrow table, as Spark returns them: a chunk has ~6,000 pairs, which
    go to PostgreSQL by COPY without becoming Python objects one by one.
    """

    header: str | None
    aggregates: pa.Table  # aggregate_columns(kind), one row per pair
    bad_rows: list[tuple[int, str]]  # (line position, reason), in line order; 0 is the header

    @classmethod
    def empty(cls, kind: str) -> FileSummary:
        """A file the batch found nothing in (it did not exist, or Spark never read it)."""
        names = aggregate_columns(kind)
        return cls(None, pa.table({name: pa.array([], _ARROW_TYPES[name]) for name in names}), [])


def _first_lines(table: pa.Table) -> dict[tuple[str, int], int]:
    """Each split's first line in its file: the lines of the splits before it.

    Refuses a batch where one partition held several splits (their record numbers would mix).
    """
    parts = pa.concat_tables(
        table.select(["file", "block", column]).rename_columns(["file", "block", "part"])
        for column in ("first_part", "last_part")
    )
    splits_of_part: dict[int, set[tuple[str, int]]] = {}
    for row in parts.group_by(["file", "block", "part"]).aggregate([]).to_pylist():
        splits_of_part.setdefault(row["part"], set()).add((row["file"], int(row["block"])))
    shared = sorted(part for part, splits in splits_of_part.items() if len(splits) > 1)
    if shared:
        raise SplitFileError(f"partitions {shared} each hold several file splits")
    lines = table.group_by(["file", "block"]).aggregate([("lines", "sum")])
    first_line: dict[tuple[str, int], int] = {}
    offset: dict[str, int] = {}
    for row in sorted(lines.to_pylist(), key=lambda r: (r["file"], r["block"])):
        file = row["file"]
        first_line[(file, int(row["block"]))] = offset.get(file, 0)
        offset[file] = offset.get(file, 0) + int(row["lines_sum"])
    return first_line


def _pairs(table: pa.Table, kind: str, merge_splits: bool) -> pa.Table:
    """(file, aggregate columns) of the good rows; a pair seen in two splits of a file, once."""
    key = ["file", *PAIR_COLUMNS[kind]]
    summed, either = ["lines", *_SUMMED[kind]], list(_EITHER[kind])
    pairs = table.filter(pc.is_null(table["row"])).select([*key, *summed, *either])
    if merge_splits:
        merged = pairs.group_by(key).aggregate(
            [(name, "sum") for name in summed] + [(name, "any") for name in either]
        )
        sums = [f"{name}_sum" for name in summed]
        anys = [f"{name}_any" for name in either]
        pairs = (
            merged.select([*key, *sums, *anys])
            .rename_columns(pairs.column_names)
            .cast(pairs.schema)  # a sum of decimals widens; the type of one split is kept
        )
    named = pairs.rename_columns(
        [_COUNTED[kind] if name == "lines" else name for name in pairs.column_names]
    )
    return named.select(["file", *aggregate_columns(kind)])


def collect_summaries(
    spark: SparkSession,
    paths: Sequence[str],
    layout: CsvLayout,
    kind: str,
    total_bytes: int | None = None,
) -> dict[str, FileSummary]:
    """Run one batch: per file base name, what the file holds (bounded by the batch's rows).

    `total_bytes`, when the caller knows the files' size, lets a small batch run as one task.
    """
    one_task = total_bytes is not None and total_bytes <= ONE_TASK_MAX_BYTES
    parser = parser_for(spark, layout, kind)
    table = parser.summarise(spark, paths, one_task).toArrow()
    first_line = _first_lines(table)
    several_splits = len(first_line) > len({file for file, _ in first_line})
    pairs = _pairs(table, kind, several_splits)
    found = {
        file: FileSummary(
            None, pairs.filter(pc.equal(pairs["file"], file)).drop_columns(["file"]), []
        )
        for file in sorted({file for file, _ in first_line})
    }
    # The header, bad rows and each split's blank lines: a few rows, as Python values.
    columns = ["file", "block", "row", "reason", "header"]
    for row in table.filter(pc.is_valid(table["row"])).select(columns).to_pylist():
        summary = found[row["file"]]
        if row["header"] is not None:
            summary.header = row["header"]
        elif row["row"] != -1:  # -1: the split's blank lines
            position = first_line[(row["file"], int(row["block"]))] + int(row["row"])
            summary.bad_rows.append((position, row["reason"]))
    for summary in found.values():
        summary.bad_rows.sort()
    return found
