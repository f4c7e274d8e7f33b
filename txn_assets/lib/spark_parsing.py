"""PySpark parsing and per-chunk aggregation, as plain DataFrame -> DataFrame functions.

Files are read as text and split here rather than by Spark's CSV reader, so that every bad row
keeps its line number and a precise reason, and so that only the DataFrame API is used (Spark
Connect has no RDD API). Fields are single-quoted strings or bare numbers, never with commas.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DecimalType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
)

from txn_assets.lib.generate import IMPORTANCE_HEADER, TRANSACTIONS_HEADER

# Amounts and weights keep six decimal places: BankSim has two, headroom costs nothing.
MONEY = DecimalType(20, 6)

LINES_SCHEMA = StructType(
    [StructField("line_number", LongType(), False), StructField("value", StringType(), True)]
)
TRANSACTION_SCHEMA = StructType(
    [
        StructField("row_number", LongType(), False),
        StructField("step", IntegerType(), True),
        StructField("customer", StringType(), True),
        StructField("age", StringType(), True),
        StructField("gender", StringType(), True),
        StructField("zipcodeOri", StringType(), True),
        StructField("merchant", StringType(), True),
        StructField("zipMerchant", StringType(), True),
        StructField("category", StringType(), True),
        StructField("amount", MONEY, True),
        StructField("fraud", IntegerType(), True),
    ]
)
PAIR_AGGREGATE_SCHEMA = StructType(
    [
        StructField("merchant", StringType(), False),
        StructField("customer", StringType(), False),
        StructField("txn_count", LongType(), False),
        StructField("amount_sum", DecimalType(30, 6), True),
        StructField("seen_female", BooleanType(), False),
        StructField("seen_male", BooleanType(), False),
    ]
)
QUARANTINE_SCHEMA = StructType(
    [
        StructField("row_number", LongType(), False),
        StructField("reason", StringType(), False),
        StructField("raw_line", StringType(), True),
    ]
)
WEIGHT_AGGREGATE_SCHEMA = StructType(
    [
        StructField("customer", StringType(), False),
        StructField("merchant", StringType(), False),
        StructField("weight_sum", DecimalType(30, 6), True),
        StructField("weight_rows", LongType(), False),
    ]
)


@dataclass(frozen=True)
class ParsedFile:
    """A parsed file split in two: typed good rows and quarantined bad ones, plus its first line."""

    header: DataFrame
    valid: DataFrame
    quarantined: DataFrame


def read_lines(spark: SparkSession, paths: str | list[str]) -> DataFrame:
    """Lines of one or more text files: (file, line_number from 1, value), in file order.

    `file` is the file's base name, which identifies a chunk within a batch. Ranking
    monotonically_increasing_id within each file numbers lines exactly whatever the partitioning
    (reading with wholetext and exploding was measured quadratic in the line count).
    """
    raw = spark.read.text(paths).select(
        F.col("_metadata.file_name").alias("file"),
        F.col("value"),
        F.monotonically_increasing_id().alias("_id"),
    )
    line = F.row_number().over(Window.partitionBy("file").orderBy("_id")).cast(LongType())
    return raw.select("file", line.alias("line_number"), "value")


def _unquote(field: Column) -> Column:
    return F.trim(F.regexp_replace(F.trim(field), r"^'(.*)'$", "$1"))


def _split(lines: DataFrame, field_count: int) -> tuple[DataFrame, Column, list[Column]]:
    parts = F.split(F.col("value"), ",", -1)
    data = lines.filter(F.col("line_number") > 1).withColumn("_parts", parts)
    fields = [_unquote(F.get(F.col("_parts"), i)) for i in range(field_count)]
    return data, F.size(F.col("_parts")), fields


def _header(lines: DataFrame) -> DataFrame:
    return lines.filter(F.col("line_number") == 1).select("file", F.trim("value").alias("header"))


def _split_valid(typed: DataFrame) -> tuple[DataFrame, DataFrame]:
    valid = typed.filter(F.col("reason").isNull())
    quarantined = typed.filter(F.col("reason").isNotNull()).select(
        "file", F.col("row_number"), F.col("reason"), F.col("value").alias("raw_line")
    )
    return valid, quarantined


def parse_transactions(lines: DataFrame) -> ParsedFile:
    """Typed transaction rows, and the rows that cannot be used with the reason why."""
    expected = len(TRANSACTIONS_HEADER.split(","))
    data, count, f = _split(lines, expected)
    amount = f[8].try_cast(MONEY)
    step = f[0].try_cast(IntegerType())
    reason = (
        F.when(
            count != expected,
            F.concat(F.lit(f"expected {expected} fields, got "), count.cast("string")),
        )
        .when(f[1] == "", F.lit("empty customer"))
        .when(f[5] == "", F.lit("empty merchant"))
        .when(
            amount.isNull(),
            F.concat(F.lit("amount is not a number: "), F.coalesce(f[8], F.lit(""))),
        )
        .when(
            step.isNull(), F.concat(F.lit("step is not an integer: "), F.coalesce(f[0], F.lit("")))
        )
    )
    typed = data.select(
        "file",
        (F.col("line_number") - 1).alias("row_number"),
        step.alias("step"),
        f[1].alias("customer"),
        f[2].alias("age"),
        f[3].alias("gender"),
        f[4].alias("zipcodeOri"),
        f[5].alias("merchant"),
        f[6].alias("zipMerchant"),
        f[7].alias("category"),
        amount.alias("amount"),
        f[9].try_cast(IntegerType()).alias("fraud"),
        reason.alias("reason"),
        F.col("value"),
    )
    valid, quarantined = _split_valid(typed)
    return ParsedFile(
        header=_header(lines),
        valid=valid.select("file", *TRANSACTION_SCHEMA.fieldNames()),
        quarantined=quarantined,
    )


def aggregate_pairs(transactions: DataFrame) -> DataFrame:
    """Per file and (merchant, customer): the counts, sums and genders the state accumulates."""
    return transactions.groupBy("file", "merchant", "customer").agg(
        F.count(F.lit(1)).cast(LongType()).alias("txn_count"),
        F.sum("amount").cast(DecimalType(30, 6)).alias("amount_sum"),
        F.max(F.col("gender") == "F").alias("seen_female"),
        F.max(F.col("gender") == "M").alias("seen_male"),
    )


def parse_importance(lines: DataFrame) -> ParsedFile:
    """Typed CustomerImportance rows (customer, merchant, weight), and the unusable rows."""
    expected = len(IMPORTANCE_HEADER.split(","))
    data, count, f = _split(lines, expected)
    weight = f[2].try_cast(MONEY)
    reason = (
        F.when(
            count != expected,
            F.concat(F.lit(f"expected {expected} fields, got "), count.cast("string")),
        )
        .when(f[0] == "", F.lit("empty customer"))
        .when(f[1] == "", F.lit("empty merchant"))
        .when(
            weight.isNull(),
            F.concat(F.lit("weight is not a number: "), F.coalesce(f[2], F.lit(""))),
        )
    )
    typed = data.select(
        "file",
        (F.col("line_number") - 1).alias("row_number"),
        f[0].alias("customer"),
        f[1].alias("merchant"),
        weight.alias("weight"),
        reason.alias("reason"),
        F.col("value"),
    )
    valid, quarantined = _split_valid(typed)
    return ParsedFile(
        header=_header(lines),
        valid=valid.select("file", "customer", "merchant", "weight"),
        quarantined=quarantined,
    )


def aggregate_weights(importance: DataFrame) -> DataFrame:
    """Per (customer, merchant): the weight sum and row count whose ratio is the mean weight."""
    return importance.groupBy("file", "customer", "merchant").agg(
        F.sum("weight").cast(DecimalType(30, 6)).alias("weight_sum"),
        F.count(F.lit(1)).cast(LongType()).alias("weight_rows"),
    )


def summarise(parsed: ParsedFile, aggregate: DataFrame) -> DataFrame:
    """Headers, aggregates and quarantined rows of the files as one DataFrame tagged by `kind`.

    Columns: kind, file, the aggregate's columns, then row_number, reason and raw_line; columns
    that do not apply to a kind are null. One action computes everything for many chunks.
    """
    agg_fields = [f for f in aggregate.schema.fields if f.name != "file"]
    extra = [
        F.lit(None).cast(LongType()).alias("row_number"),
        F.lit(None).cast(StringType()).alias("reason"),
        F.lit(None).cast(StringType()).alias("raw_line"),
    ]
    nulls = [F.lit(None).cast(field.dataType).alias(field.name) for field in agg_fields]
    header = parsed.header.select(
        F.lit("header").alias("kind"), "file", *nulls, *extra[:2], F.col("header").alias("raw_line")
    )
    aggregates = aggregate.select(F.lit("aggregate").alias("kind"), *aggregate.columns, *extra)
    quarantined = parsed.quarantined.select(
        F.lit("quarantine").alias("kind"), "file", *nulls, "row_number", "reason", "raw_line"
    )
    return header.unionByName(aggregates).unionByName(quarantined)
