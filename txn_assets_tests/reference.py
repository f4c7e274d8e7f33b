"""An independent, deliberately plain whole-history recomputation of the three patterns.

It shares no code with the engine: it re-reads the raw files with the csv module, keeps the whole
history in dictionaries, and implements percentile_cont's linear interpolation by hand. After each
chunk it judges every pair and merchant from scratch.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

from txn_assets.lib.rules import DetectionRules


def percentile_cont(values: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks."""
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


MAX_AMOUNT = Decimal(1_000_000_000)
MEAN_PLACES = Decimal("0.000001")

Key = tuple[str, str, str]  # (pattern, customer, merchant)
Evidence = dict[str, int | Decimal]


def _exact(value: float) -> Decimal:
    """A double as the shortest decimal that reads back as it (what jsonb stores for it)."""
    return Decimal(repr(value))


def _table(path: Path) -> tuple[list[str], list[list[str]]]:
    """Column names (lower case, unquoted) and data rows, read with the csv module.

    Lines with NUL bytes or bytes that are not UTF-8 are unusable, blank ones are no rows.
    """
    text = path.read_bytes().decode("utf-8", errors="replace").removeprefix("\ufeff")
    header, *lines = text.split("\n")
    names = [f.strip().strip("'\"").strip().lower() for f in header.rstrip("\r").split(",")]
    usable = [line.rstrip("\r") for line in lines if "\x00" not in line and "\ufffd" not in line]
    rows = csv.reader([line for line in usable if line.strip()], quotechar="'")
    return names, [[field.strip().strip("'").strip() for field in row] for row in rows]


def _money(text: str) -> Decimal | None:
    """An amount a row may carry: a finite number, not negative, not absurdly large."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 <= value <= MAX_AMOUNT else None


def load_weights(importance: Path) -> dict[tuple[str, str], float]:
    """w(c, m) = mean weight over all of the pair's usable rows."""
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    counts: dict[tuple[str, str], int] = defaultdict(int)
    names, rows = _table(importance)
    source, target, weight_at = (names.index(n) for n in ("source", "target", "weight"))
    for row in rows:
        if len(row) != len(names) or not row[source] or not row[target]:
            continue
        weight = _money(row[weight_at])
        if weight is None:
            continue
        sums[(row[source], row[target])] += weight
        counts[(row[source], row[target])] += 1
    return {key: float(sums[key] / counts[key]) for key in sums}


class Reference:
    """Whole-history state plus the set of detections emitted so far."""

    def __init__(self, weights: dict[tuple[str, str], float], rules: DetectionRules) -> None:
        self.weights = weights
        self.rules = rules
        self.count: dict[tuple[str, str], int] = defaultdict(int)
        self.amount: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self.merchant_count: dict[str, int] = defaultdict(int)
        self.female: dict[str, set[str]] = defaultdict(set)
        self.male: dict[str, set[str]] = defaultdict(set)
        self.emitted: set[Key] = set()
        # The numbers that made each detection true at the chunk that emitted it.
        self.evidence: dict[Key, Evidence] = {}

    def add_chunk(self, path: Path) -> list[Key]:
        """Fold a chunk file in; return the new detections (pattern, customer, merchant), sorted."""
        names, rows = _table(path)
        at = {n: names.index(n) for n in ("customer", "merchant", "gender", "amount")}
        step = names.index("step") if "step" in names else None
        for row in rows:
            if len(row) != len(names) or not row[at["customer"]] or not row[at["merchant"]]:
                continue
            amount = _money(row[at["amount"]])
            if amount is None or (step is not None and not row[step].lstrip("-").isdigit()):
                continue
            customer, merchant, gender = row[at["customer"]], row[at["merchant"]], row[at["gender"]]
            self.count[(customer, merchant)] += 1
            self.amount[(customer, merchant)] += amount
            self.merchant_count[merchant] += 1
            if gender == "F":
                self.female[merchant].add(customer)
            if gender == "M":
                self.male[merchant].add(customer)
        holding = self._holding()
        new = sorted(holding.keys() - self.emitted, key=lambda d: (d[0], d[2], d[1]))
        self.emitted |= holding.keys()
        self.evidence.update((key, holding[key]) for key in new)
        return new

    def _holding(self) -> dict[Key, Evidence]:
        r = self.rules
        found: dict[Key, Evidence] = {}
        customers_of: dict[str, list[str]] = defaultdict(list)
        for (customer, merchant), n in self.count.items():
            customers_of[merchant].append(customer)
            amount = self.amount[(customer, merchant)]
            if n >= r.child_min_txns and amount / n < r.child_max_mean_amount:
                found[("PatId2", customer, merchant)] = {
                    "txn_count": n,
                    "amount_sum": amount,
                    "mean_amount": (amount / n).quantize(MEAN_PLACES, ROUND_HALF_UP),
                }
        for merchant, customers in customers_of.items():
            females, males = len(self.female[merchant]), len(self.male[merchant])
            if females > r.dei_min_female_customers and females < males:
                found[("PatId3", "", merchant)] = {
                    "female_customers": females,
                    "male_customers": males,
                    "customers": len(customers),
                }
            if self.merchant_count[merchant] <= r.upgrade_min_merchant_txns:
                continue
            count_cut = percentile_cont(
                [float(self.count[(c, merchant)]) for c in customers], r.upgrade_count_percentile
            )
            weighted = [
                self.weights[(c, merchant)] for c in customers if (c, merchant) in self.weights
            ]
            if not weighted:
                continue
            weight_cut = percentile_cont(weighted, r.upgrade_weight_percentile)
            for c in customers:
                w = self.weights.get((c, merchant))
                n = self.count[(c, merchant)]
                if w is not None and n >= count_cut and w <= weight_cut:
                    found[("PatId1", c, merchant)] = {
                        "txn_count": n,
                        "count_cut": _exact(count_cut),
                        "weight": _exact(w),
                        "weight_cut": _exact(weight_cut),
                        "merchant_txns": self.merchant_count[merchant],
                    }
        return found
