"""Small builders for hand-made source rows and files in the BankSim format."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from txn_assets.lib.generate import IMPORTANCE_HEADER, TRANSACTIONS_HEADER


@dataclass(frozen=True)
class Txn:
    """One transactions.csv row; only the fields the patterns read vary."""

    customer: str
    merchant: str
    amount: Decimal | str
    gender: str = "F"
    step: int = 0

    def line(self) -> str:
        return (
            f"{self.step},'{self.customer}','3','{self.gender}','28007','{self.merchant}','28007',"
            f"'es_transportation',{self.amount},0"
        )


def txns(customer: str, merchant: str, count: int, amount: str, gender: str = "F") -> list[Txn]:
    """count identical rows of one (customer, merchant)."""
    return [Txn(customer, merchant, Decimal(amount), gender) for _ in range(count)]


def write_chunk(path: Path, rows: Iterable[Txn | str]) -> Path:
    """A staged chunk file: the transactions header, then rows (raw strings are written as-is)."""
    lines = [TRANSACTIONS_HEADER] + [r if isinstance(r, str) else r.line() for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_chunk_bytes(path: Path, lines: Iterable[bytes], ending: bytes = b"\n") -> Path:
    """A staged chunk written byte for byte: the header, then lines exactly as given."""
    header = TRANSACTIONS_HEADER.encode()
    path.write_bytes(ending.join([header, *lines]) + ending)
    return path


def write_importance(path: Path, rows: Iterable[tuple[str, str, str] | str]) -> Path:
    """A CustomerImportance file from (customer, merchant, weight) rows or raw strings."""
    lines = [IMPORTANCE_HEADER]
    for r in rows:
        lines.append(r if isinstance(r, str) else f"'{r[0]}','{r[1]}',{r[2]},'es_transportation',0")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
