"""CustomerImportance read with Arrow; Spark judges only the lines that need its parser.

The reference file is loaded once per stream, before the first chunk can be applied. As a new
JVM's first Spark action it took 12–15 s here, most of it the JVM compiling Spark's planner, and
the issue asks that the weights load not wait for the JVM. Nearly every line of the file is
plain: the layout's number of comma-separated fields, the used ones either quoted at both ends
or not at all, a customer and a merchant, and a weight of at most nine digits and six decimals.
Spark's parser (`spark_parsing`) has nothing to judge in such a line: it splits it the same way,
finds no reason to reject it, and reads the weight exactly. Those lines are split, checked and
summed here with Arrow's compute functions (~1.5 s for the full file on one core).

Every other line (a comma inside quotes, a field count off, a weight such as `1e3`, `-1` or one
with seven decimals, an empty field, bytes that are not UTF-8) goes, with the header, to a file
of its own that Spark parses as it parses any file, so that its rules stay the only ones; its
bad rows keep their positions in the original file. A clean file never starts Spark.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import SparkSession

from txn_assets.lib import settings
from txn_assets.lib.csv_header import CsvLayout
from txn_assets.lib.spark_parsing import (
    FIELD_TRIM,
    IMPORTANCE_COLUMNS,
    MONEY,
    PAIR_COLUMNS,
    QUOTES,
    FileSummary,
    aggregate_columns,
    collect_summaries,
)

KIND = "importance"
# The largest weight a plain line may hold is below settings.MAX_AMOUNT, so Spark would never
# call it absurd, and fits MONEY, so Spark reads it exactly as written.
_INTEGER_DIGITS = min(len(str(int(settings.MAX_AMOUNT))) - 1, MONEY.precision - MONEY.scale)
PLAIN_WEIGHT = rf"^[0-9]{{1,{_INTEGER_DIGITS}}}(\.[0-9]{{1,{MONEY.scale}}})?$"
_WEIGHT = pa.decimal128(MONEY.precision, MONEY.scale)
_PAIR = list(PAIR_COLUMNS[KIND])
_BOM = b"\xef\xbb\xbf"


def _lines(data: bytes) -> pa.Array:
    """The file's lines as Spark's text source reads them: split at \\n, no empty last line, no
    UTF-8 byte-order mark before the first."""
    data = data.removeprefix(_BOM)
    if not data:
        return pa.array([], pa.large_binary())
    lines = pc.list_flatten(pc.split_pattern(pa.array([data], pa.large_binary()), b"\n"))
    return lines.slice(0, len(lines) - 1) if data.endswith(b"\n") else lines


def _readable_text(lines: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Each line as text without its trailing \\r, whether it is UTF-8, and whether it is UTF-8
    without NUL bytes (readable; an unreadable line is left to Spark; one that is not UTF-8 has
    empty text)."""
    try:
        text = lines.cast(pa.large_string())
        utf8 = np.ones(len(lines), dtype=bool)
    except pa.ArrowInvalid:  # some line is not UTF-8: find which, line by line (a dirty file)
        utf8 = np.array([_is_utf8(line) for line in lines.to_pylist()], dtype=bool)
        text = pc.if_else(pa.array(utf8), lines, pa.scalar(b"", pa.large_binary()))
        text = text.cast(pa.large_string())
    readable = utf8 & ~pc.match_substring(text, "\x00").to_numpy(zero_copy_only=False)
    return pc.utf8_rtrim(text, characters="\r"), utf8, readable


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _opens_without_closing(field: pa.Array) -> pa.Array:
    """A used field that starts with a quote it does not close: the comma split may be wrong."""
    start = pc.utf8_ltrim(field, characters=" ")
    end = pc.utf8_rtrim(field, characters=" ")
    found = None
    for quote in QUOTES:
        closed = pc.and_(pc.ends_with(end, quote), pc.greater(pc.utf8_length(end), 1))
        opens = pc.and_(pc.starts_with(start, quote), pc.invert(closed))
        found = opens if found is None else pc.or_(found, opens)
    assert found is not None
    return found


def _plain_rows(parts: pa.Array, layout: CsvLayout) -> tuple[np.ndarray, pa.Table]:
    """Of lines split into the layout's field count: which are plain, and their
    (customer, merchant, amount: the weight's text)."""
    positions = {name: layout.position(column) for name, column in IMPORTANCE_COLUMNS.items()}
    fields = {name: pc.list_element(parts, p) for name, p in positions.items() if p is not None}
    if len(fields) != len(IMPORTANCE_COLUMNS):
        raise ValueError(f"the layout lacks one of {list(IMPORTANCE_COLUMNS.values())}")
    suspicious = None
    for field in fields.values():
        opens = _opens_without_closing(field)
        suspicious = opens if suspicious is None else pc.or_(suspicious, opens)
    assert suspicious is not None
    values = {name: pc.utf8_trim(field, characters=FIELD_TRIM) for name, field in fields.items()}
    plain = pc.and_(
        pc.and_(pc.invert(suspicious), pc.match_substring_regex(values["amount"], PLAIN_WEIGHT)),
        pc.and_(pc.not_equal(values["customer"], ""), pc.not_equal(values["merchant"], "")),
    )
    return plain.to_numpy(zero_copy_only=False), pa.table(values)


def _aggregated(table: pa.Table, count: tuple[str, str], total: tuple[str, str]) -> pa.Table:
    """Group by pair: (customer, merchant, count, total) in the names and types a Spark summary
    has. `count` and `total` are (column, Arrow aggregation) pairs."""
    grouped = table.group_by(_PAIR).aggregate([count, total])
    ordered = grouped.select([*_PAIR, "_".join(count), "_".join(total)])
    named = ordered.rename_columns(list(aggregate_columns(KIND)))
    # safe: a sum that does not fit the summary's decimal fails instead of wrapping
    return named.cast(FileSummary.empty(KIND).aggregates.schema)


def summarise_importance(
    path: Path,
    layout: CsvLayout,
    spark: Callable[[], SparkSession],
    scratch: Path | None = None,
) -> FileSummary:
    """What Spark's parser would find in the file: its header, pair aggregates and bad rows.

    `spark` is asked for a session only when a line needs Spark's judgement; `scratch` is where
    such lines are written for it (a temporary folder of the machine's otherwise).
    """
    lines = _lines(path.read_bytes())
    if len(lines) == 0:
        return FileSummary.empty(KIND)
    text, utf8, readable = _readable_text(lines)
    header = text[0].as_py() if utf8[0] else lines[0].as_py().decode("utf-8", "replace")
    blank = readable & pc.equal(pc.utf8_trim(text, characters=" "), "").to_numpy(
        zero_copy_only=False
    )
    rows = np.ones(len(lines), dtype=bool)
    rows[0] = False  # the header
    rows &= ~blank  # blank lines are not rows
    parts = pc.split_pattern(text, ",")
    counted = pc.equal(pc.list_value_length(parts), layout.field_count)
    candidates = np.flatnonzero(rows & readable & counted.to_numpy(zero_copy_only=False))
    plain, values = _plain_rows(parts.take(pa.array(candidates)), layout)
    plain_rows = values.filter(pa.array(plain))
    weights = pc.cast(plain_rows["amount"], _WEIGHT)  # exact: the text is digits and a point
    plain_rows = plain_rows.set_column(
        plain_rows.schema.get_field_index("amount"), "amount", weights
    )
    pairs = _aggregated(plain_rows, ("amount", "count"), ("amount", "sum"))
    rows[candidates[plain]] = False
    others = np.flatnonzero(rows)
    if len(others) == 0:
        return FileSummary(header, pairs, [])
    judged = _judged_by_spark(lines, others, layout, spark, scratch)
    if judged.aggregates.num_rows:  # good lines among them (a comma inside quotes)
        counts, sums = aggregate_columns(KIND)[2:]
        both = pa.concat_tables([pairs, judged.aggregates.cast(pairs.schema)])
        pairs = _aggregated(both, (counts, "sum"), (sums, "sum"))
    return FileSummary(header, pairs, judged.bad_rows)


def _judged_by_spark(
    lines: pa.Array,
    positions: np.ndarray,
    layout: CsvLayout,
    spark: Callable[[], SparkSession],
    scratch: Path | None,
) -> FileSummary:
    """Spark's summary of the header and the lines at `positions`, their bad rows numbered as
    in the original file."""
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="importance-lines-", dir=scratch) as folder:
        path = Path(folder) / "lines.csv"
        with path.open("wb") as out:
            out.write(lines[0].as_py() + b"\n")
            for position in positions:
                out.write(lines[int(position)].as_py() + b"\n")
        found = collect_summaries(spark(), [str(path)], layout, KIND)
    summary = found.get(path.name, FileSummary.empty(KIND))
    bad_rows = [(int(positions[line - 1]), reason) for line, reason in summary.bad_rows]
    return FileSummary(summary.header, summary.aggregates, sorted(bad_rows))
