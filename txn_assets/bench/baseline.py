"""The baseline most public solutions use: recompute all three patterns from the whole history.

After each chunk, pandas re-judges every pair and merchant over everything seen so far, in one
process's memory, with no durability. Cheap at first, its cost per chunk grows with the stream
(its total with the square): the benchmark shows where the incremental engine overtakes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from txn_assets.lib.rules import DetectionRules


@dataclass
class BaselineRun:
    """Seconds to load, seconds per chunk, and the detections found."""

    rows: int
    load_seconds: float
    chunk_seconds: list[float] = field(default_factory=list)
    detections: int = 0

    @property
    def total_seconds(self) -> float:
        return self.load_seconds + sum(self.chunk_seconds)


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].str.strip().str.strip("'")
    return frame


def _holding(history: pd.DataFrame, weights: pd.Series, rules: DetectionRules) -> set[tuple]:
    """Every detection true over this history: (pattern, customer, merchant)."""
    found: set[tuple] = set()
    pairs = history.groupby(["merchant", "customer"], sort=False)["amount"].agg(["count", "mean"])
    child = pairs[
        (pairs["count"] >= rules.child_min_txns)
        & (pairs["mean"] < float(rules.child_max_mean_amount))
    ]
    found.update(("PatId2", c, m) for m, c in child.index)
    distinct = history.drop_duplicates(["merchant", "customer", "gender"])
    by_gender = distinct.groupby(["merchant", "gender"]).size().unstack(fill_value=0)
    females = by_gender.get("F", pd.Series(0, index=by_gender.index))
    males = by_gender.get("M", pd.Series(0, index=by_gender.index))
    dei = by_gender.index[(females > rules.dei_min_female_customers) & (females < males)]
    found.update(("PatId3", "", m) for m in dei)
    merchant_rows = history["merchant"].value_counts()
    for merchant in merchant_rows.index[merchant_rows > rules.upgrade_min_merchant_txns]:
        counts = pairs.loc[merchant, "count"]
        count_cut = counts.quantile(rules.upgrade_count_percentile)
        weighted = weights.reindex(pd.MultiIndex.from_product([counts.index, [merchant]])).dropna()
        if weighted.empty:
            continue
        weight_cut = weighted.quantile(rules.upgrade_weight_percentile)
        for (customer, _), weight in weighted.items():
            if counts[customer] >= count_cut and weight <= weight_cut:
                found.add(("PatId1", customer, merchant))
    return found


def recompute_all(
    transactions: Path, importance: Path, chunk_rows: int, rules: DetectionRules | None = None
) -> BaselineRun:
    """Fold the stream chunk by chunk, recomputing every pattern from the whole history."""
    rules = rules or DetectionRules()
    started = time.perf_counter()
    frame = _clean(
        pd.read_csv(transactions, usecols=["customer", "gender", "merchant", "amount"], dtype=str)
    )
    frame["amount"] = pd.to_numeric(frame["amount"])
    reference = _clean(pd.read_csv(importance, usecols=["Source", "Target", "Weight"], dtype=str))
    reference["Weight"] = pd.to_numeric(reference["Weight"])
    weights = reference.groupby(["Source", "Target"])["Weight"].mean()
    run = BaselineRun(rows=len(frame), load_seconds=time.perf_counter() - started)
    emitted: set[tuple] = set()
    for end in range(chunk_rows, len(frame) + chunk_rows, chunk_rows):
        started = time.perf_counter()
        holding = _holding(frame.iloc[:end], weights, rules)
        emitted |= holding
        run.chunk_seconds.append(time.perf_counter() - started)
    run.detections = len(emitted)
    return run
