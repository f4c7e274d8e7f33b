"""A dirty copy of generated source files, as real-world files arrive.

Saved by a spreadsheet program (UTF-8 byte-order mark, CRLF, headers quoted with " and spaced,
in other case and column order, no newline after the last line), with every class of bad row
put in place of a clean one at a known position, and blank lines. Replacing rows (never
inserting) keeps the lines in the same places, so the bad rows' positions are known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# The transactions columns in the order the dirty file has them (by canonical name).
TX_ORDER = (
    "amount", "merchant", "step", "customer", "gender", "age", "zipcodeOri", "zipMerchant",
    "category", "fraud",
)  # fmt: skip
CANONICAL_TX = (
    "step", "customer", "age", "gender", "zipcodeOri", "merchant", "zipMerchant", "category",
    "amount", "fraud",
)  # fmt: skip
IMP_ORDER = ("Target", "Weight", "Source", "typeTrans", "fraud")
CANONICAL_IMP = ("Source", "Target", "Weight", "typeTrans", "fraud")


def _reorder(fields: list[bytes], canonical: tuple[str, ...], order: tuple[str, ...]) -> bytes:
    by_name = dict(zip(canonical, fields, strict=True))
    return b",".join(by_name[name] for name in order)


def _header(order: tuple[str, ...]) -> bytes:
    # Quoted with ", spaced, in another case: all of it must be tolerated.
    return ("\ufeff" + ",".join(f' "{name.upper()}" ' for name in order)).encode()


def _bad_rows(template: list[bytes]) -> dict[str, bytes]:
    """Each bad-row class, built from a clean row's fields (canonical order)."""

    def with_field(name: str, value: bytes) -> bytes:
        fields = list(template)
        fields[CANONICAL_TX.index(name)] = value
        return _reorder(fields, CANONICAL_TX, TX_ORDER)

    return {
        "too few fields": b"0,'C1','3'",
        "non-numeric amount": with_field("amount", b"twelve"),
        "negative amount": with_field("amount", b"-12.50"),
        "absurd amount": with_field("amount", b"99999999999"),
        "empty customer": with_field("customer", b"''"),
        "empty merchant": with_field("merchant", b"' '"),
        "NUL byte": with_field("customer", b"'C\x0012'"),
        "invalid UTF-8": with_field("customer", b"'C\xff\xfe12'"),
    }


@dataclass(frozen=True)
class DirtyFiles:
    """Where the dirty files are, and what was put where."""

    transactions: Path
    importance: Path
    bad_lines: dict[int, str]  # line position (1 = first data row) -> bad-row class
    blank_lines: tuple[int, ...]
    data_lines: int  # lines after the header, blank ones included


def make_dirty(clean_transactions: Path, clean_importance: Path, out: Path) -> DirtyFiles:
    """Write dirty copies of the two files into out."""
    out.mkdir(parents=True, exist_ok=True)
    _, *rows = clean_transactions.read_bytes().rstrip(b"\n").split(b"\n")
    lines = [_reorder(row.split(b","), CANONICAL_TX, TX_ORDER) for row in rows]
    bad = _bad_rows(rows[0].split(b","))
    bad_lines: dict[int, str] = {}
    step = max(1, len(lines) // (len(bad) + 4))
    for n, (kind, row) in enumerate(bad.items(), start=1):
        position = n * step + 7
        lines[position - 1] = row
        bad_lines[position] = kind
    # Valid, if unusual: an unknown gender code, and a comma inside a quoted merchant name.
    odd = rows[3].split(b",")
    odd[CANONICAL_TX.index("gender")] = b"'X'"
    lines[3] = _reorder(odd, CANONICAL_TX, TX_ORDER)
    comma = rows[4].split(b",")
    comma[CANONICAL_TX.index("merchant")] = b"'M,with comma'"
    lines[4] = _reorder(comma, CANONICAL_TX, TX_ORDER)
    blank = (step // 2, len(lines) // 2 + 3)
    for position in blank:
        lines[position - 1] = b"   " if position % 2 else b""
    transactions = out / "transactions.csv"
    transactions.write_bytes(b"\r\n".join([_header(TX_ORDER), *lines]))  # no final newline

    _, *imp_rows = clean_importance.read_bytes().rstrip(b"\n").split(b"\n")
    imp_lines = [_reorder(r.split(b","), CANONICAL_IMP, IMP_ORDER) for r in imp_rows]
    imp_lines[10] = b"'M1',oops,'C1','es_food',0"
    imp_lines[20] = b"'M1','C1'"
    importance = out / "CustomerImportance.csv"
    importance.write_bytes(b"\r\n".join([_header(IMP_ORDER), *imp_lines]) + b"\r\n")
    return DirtyFiles(transactions, importance, bad_lines, blank, len(lines))
