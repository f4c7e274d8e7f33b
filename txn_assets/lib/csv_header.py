"""Headers of the two source files: columns are found by name, not by position.

A header may carry a UTF-8 byte-order mark, CRLF, fields quoted with ' or " or not at all, any
case and surrounding spaces (a file saved by a spreadsheet program). Columns may come in any
order; a missing required column stops the stream before anything is read, naming the column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BOM = "\ufeff"

# The columns Mechanism Y reads, by their canonical name, and the ones it only tolerates.
TRANSACTION_COLUMNS = ("customer", "gender", "merchant", "amount")
TRANSACTION_OPTIONAL = ("step", "age", "zipcodeOri", "zipMerchant", "category", "fraud")
IMPORTANCE_COLUMNS = ("Source", "Target", "Weight")
IMPORTANCE_OPTIONAL = ("typeTrans", "fraud")


class HeaderError(ValueError):
    """A source file's first line is not a usable header (a required column is missing)."""


def clean_line(line: str) -> str:
    """The line without a byte-order mark and without its line ending."""
    return line.removeprefix(BOM).rstrip("\r\n")


def read_first_line(path: Path) -> str:
    """A file's first line as text (a header), whatever its line ending or byte-order mark."""
    with path.open("rb") as handle:
        raw = handle.readline(1 << 20)
    try:
        return clean_line(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise HeaderError(f"{path.name}: the header is not UTF-8 text ({err})") from err


def _field_name(field: str) -> str:
    name = field.strip()
    if len(name) >= 2 and name[0] == name[-1] and name[0] in "'\"":
        name = name[1:-1].strip()
    return name.lower()


@dataclass(frozen=True)
class CsvLayout:
    """Where each column of a file is, read from its header line."""

    header: str  # the header line as the file has it (no byte-order mark, no line ending)
    field_count: int
    columns: tuple[tuple[str, int], ...]  # (canonical column name, 0-based field index)

    def position(self, column: str) -> int | None:
        """Index of a column (None for an optional column the file lacks)."""
        return dict(self.columns).get(column)


def layout_of(
    header_line: str, required: Sequence[str], optional: Sequence[str] = (), what: str = "file"
) -> CsvLayout:
    """The layout of a header; HeaderError names the first required column that is missing."""
    header = clean_line(header_line)
    names = [_field_name(f) for f in header.split(",")]
    positions: dict[str, int] = {}
    for column in (*required, *optional):
        if column.lower() in names:
            positions[column] = names.index(column.lower())
    for column in required:
        if column not in positions:
            raise HeaderError(
                f"{what}: the header has no column '{column}' (found: {', '.join(names)})"
            )
    return CsvLayout(header=header, field_count=len(names), columns=tuple(positions.items()))


def transactions_layout(header_line: str, what: str = "transactions.csv") -> CsvLayout:
    """Layout of transactions.csv (customer, gender, merchant, amount required)."""
    return layout_of(header_line, TRANSACTION_COLUMNS, TRANSACTION_OPTIONAL, what)


def importance_layout(header_line: str, what: str = "CustomerImportance.csv") -> CsvLayout:
    """Layout of CustomerImportance.csv (Source, Target, Weight required)."""
    return layout_of(header_line, IMPORTANCE_COLUMNS, IMPORTANCE_OPTIONAL, what)
