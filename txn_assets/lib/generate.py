"""Deterministic BankSim-shaped data: the embedded default source and the tests' data.

The shape follows the assignment's data set: rows ordered by step, single-quoted strings, two
transportation merchants holding about 85% of rows, skewed amounts, one gender per customer, and
CustomerImportance with one row per transaction whose Weight equals the amount. A handful of
merchants lean male so that DEI-NEEDED fires, customer spending levels vary so that CHILD and
UPGRADE fire, and some customers have no importance rows so that missing weights are exercised.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

TRANSACTIONS_HEADER = (
    "step,customer,age,gender,zipcodeOri,merchant,zipMerchant,category,amount,fraud"
)
IMPORTANCE_HEADER = "Source,Target,Weight,typeTrans,fraud"
FULL_ROWS = 594_643
CUSTOMERS = 4_112
STEPS = 180
ZIPCODE = "28007"

# (category, typical amount) — transportation is cheap and dominant, travel is rare and large.
CATEGORIES: tuple[tuple[str, float], ...] = (
    ("es_transportation", 26.9),
    ("es_food", 37.1),
    ("es_health", 135.6),
    ("es_wellnessandbeauty", 65.5),
    ("es_fashion", 65.7),
    ("es_barsandrestaurant", 43.5),
    ("es_hyper", 45.9),
    ("es_sportsandtoys", 215.7),
    ("es_tech", 120.9),
    ("es_home", 165.7),
    ("es_hotelservices", 205.6),
    ("es_otherservices", 316.5),
    ("es_contents", 44.5),
    ("es_travel", 2250.4),
    ("es_leisure", 288.9),
)
# Row counts of the real set's merchants, largest first (two transportation merchants on top).
_TOP_MERCHANT_ROWS = (299_693, 205_426, 26_254)
_SMALLEST_MERCHANT_ROWS = 3
MERCHANTS = 50
# Merchants (by rank) whose customers lean male; each becomes a DEI-NEEDED detection.
_MALE_LEANING_RANKS = (2, 4, 6, 9, 13)


@dataclass(frozen=True)
class GeneratedFiles:
    """Where generate() wrote the two source files."""

    transactions: Path
    importance: Path
    rows: int


def _merchant_shares(rows: int) -> np.ndarray:
    """Row share per merchant: the real top three, then a geometric tail down to a few rows.

    The tail's first size is found by bisection so that the tail holds what the real set's
    remaining merchants hold; the shares then scale to any row count.
    """
    top = np.array(_TOP_MERCHANT_ROWS, dtype=float)
    tail_n = MERCHANTS - len(top)
    tail_total = FULL_ROWS - top.sum()
    low, high = float(_SMALLEST_MERCHANT_ROWS), top[-1]
    for _ in range(60):
        mid = (low + high) / 2
        if np.geomspace(mid, _SMALLEST_MERCHANT_ROWS, tail_n).sum() > tail_total:
            high = mid
        else:
            low = mid
    counts = np.concatenate([top, np.geomspace(low, _SMALLEST_MERCHANT_ROWS, tail_n)])
    return counts / counts.sum()


def _customer_ids(rng: np.random.Generator, n: int, prefix: str) -> list[str]:
    # choice over an integer population samples without materialising it.
    numbers = rng.choice(19 * 10**8, size=n, replace=False) + 10**8
    return [f"{prefix}{x}" for x in numbers]


def generate(out_dir: Path, rows: int = FULL_ROWS, seed: int = 42) -> GeneratedFiles:
    """Write transactions.csv and CustomerImportance.csv into out_dir; same seed, same bytes."""
    if rows < 1:
        raise ValueError("rows must be positive")
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)

    customers = np.array(_customer_ids(rng, CUSTOMERS, "C"))
    genders = rng.choice(
        np.array(["F", "M", "E", "U"]), size=CUSTOMERS, p=[0.545, 0.448, 0.004, 0.003]
    )
    ages = rng.choice(
        np.array(["0", "1", "2", "3", "4", "5", "6", "U"]),
        size=CUSTOMERS,
        p=[0.004, 0.098, 0.315, 0.247, 0.184, 0.105, 0.045, 0.002],
    )
    activity = rng.lognormal(0.0, 0.6, size=CUSTOMERS)
    spending = rng.lognormal(0.0, 0.22, size=CUSTOMERS)

    merchants = np.array(_customer_ids(rng, MERCHANTS, "M"))
    # Two transportation merchants on top; the other categories spread over the rest by price,
    # so expensive ones (travel) sit on the smallest merchants, as in the real set.
    by_price = sorted(range(1, len(CATEGORIES)), key=lambda i: CATEGORIES[i][1])
    merchant_category = np.zeros(MERCHANTS, dtype=int)
    for rank in range(2, MERCHANTS):
        merchant_category[rank] = by_price[(rank - 2) * len(by_price) // (MERCHANTS - 2)]
    female_share = np.full(MERCHANTS, 0.55)
    female_share[list(_MALE_LEANING_RANKS)] = 0.30

    merchant_of_row = rng.choice(MERCHANTS, size=rows, p=_merchant_shares(rows))
    # Pick each row's customer: first the gender side the merchant leans to, then a customer of
    # that side weighted by activity, so distinct-customer counts per gender follow the lean.
    side_female = rng.random(rows) < female_share[merchant_of_row]
    customer_of_row = np.empty(rows, dtype=int)
    female_pool = np.flatnonzero(genders == "F")
    other_pool = np.flatnonzero(genders != "F")
    for pool, mask in ((female_pool, side_female), (other_pool, ~side_female)):
        weights = activity[pool] / activity[pool].sum()
        customer_of_row[mask] = rng.choice(pool, size=int(mask.sum()), p=weights)

    steps = np.sort(rng.integers(0, STEPS, size=rows))
    base = np.array([c[1] for c in CATEGORIES])[merchant_category[merchant_of_row]]
    noise = rng.lognormal(-0.08, 0.4, size=rows)
    amounts = np.round(base * spending[customer_of_row] * noise, 2)
    fraud = (rng.random(rows) < 0.012).astype(int)

    # About 2% of customers have no importance rows at all: their weight is unknown.
    unweighted = rng.random(CUSTOMERS) < 0.02

    tx_path = out_dir / "transactions.csv"
    imp_path = out_dir / "CustomerImportance.csv"
    categories = np.array([c[0] for c in CATEGORIES])
    with (
        tx_path.open("w", encoding="utf-8", newline="\n") as tx,
        imp_path.open("w", encoding="utf-8", newline="\n") as imp,
    ):
        tx.write(TRANSACTIONS_HEADER + "\n")
        imp.write(IMPORTANCE_HEADER + "\n")
        tx_lines = []
        imp_lines = []
        # Plain lists: indexing them per row is several times faster than numpy scalars.
        cust, gend, age = customers.tolist(), genders.tolist(), ages.tolist()
        merch, skip = merchants.tolist(), unweighted.tolist()
        cat_of_merchant = categories[merchant_category].tolist()
        for step, c, m, amount_value, flag in zip(
            steps.tolist(),
            customer_of_row.tolist(),
            merchant_of_row.tolist(),
            amounts.tolist(),
            fraud.tolist(),
            strict=True,
        ):
            cat = cat_of_merchant[m]
            amount = f"{amount_value:.2f}"
            tx_lines.append(
                f"{step},'{cust[c]}','{age[c]}','{gend[c]}','{ZIPCODE}',"
                f"'{merch[m]}','{ZIPCODE}','{cat}',{amount},{flag}\n"
            )
            if not skip[c]:
                imp_lines.append(f"'{cust[c]}','{merch[m]}',{amount},'{cat}',{flag}\n")
        tx.writelines(tx_lines)
        imp.writelines(imp_lines)
    return GeneratedFiles(transactions=tx_path, importance=imp_path, rows=rows)
