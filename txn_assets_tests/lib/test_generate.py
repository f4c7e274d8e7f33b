"""The generator: deterministic, BankSim-shaped, and rich enough for every pattern at full size."""

from __future__ import annotations

import csv
from collections import Counter

import pytest

from txn_assets.lib.generate import FULL_ROWS, IMPORTANCE_HEADER, TRANSACTIONS_HEADER, generate
from txn_assets.lib.rules import DetectionRules
from txn_assets_tests.chunking import cut_chunks
from txn_assets_tests.reference import Reference, load_weights


def test_same_seed_same_bytes_and_other_seed_other_bytes(tmp_path):
    a = generate(tmp_path / "a", rows=2_000, seed=3)
    b = generate(tmp_path / "b", rows=2_000, seed=3)
    c = generate(tmp_path / "c", rows=2_000, seed=4)
    assert a.transactions.read_bytes() == b.transactions.read_bytes()
    assert a.importance.read_bytes() == b.importance.read_bytes()
    assert a.transactions.read_bytes() != c.transactions.read_bytes()


def test_files_have_the_banksim_shape(tmp_path):
    files = generate(tmp_path, rows=20_000, seed=5)
    tx_lines = files.transactions.read_text().splitlines()
    assert tx_lines[0] == TRANSACTIONS_HEADER
    assert files.importance.read_text().splitlines()[0] == IMPORTANCE_HEADER
    assert len(tx_lines) == 20_001
    first = tx_lines[1].split(",")
    assert first[1].startswith("'C") and first[1].endswith("'") and first[8][0].isdigit()
    rows = list(csv.reader(tx_lines[1:], quotechar="'"))
    steps = [int(r[0]) for r in rows]
    assert steps == sorted(steps)
    genders: dict[str, set[str]] = {}
    for r in rows:
        genders.setdefault(r[1], set()).add(r[3])
    assert all(len(g) == 1 for g in genders.values())
    share = Counter(r[5] for r in rows).most_common(2)
    assert 0.80 < (share[0][1] + share[1][1]) / len(rows) < 0.90
    assert {r[7] for r in rows if r[5] in {share[0][0], share[1][0]}} == {"es_transportation"}


@pytest.mark.slow
def test_full_size_data_fires_every_pattern_and_crosses_50000_mid_stream(tmp_path):
    files = generate(tmp_path / "full")
    reference = Reference(load_weights(files.importance), DetectionRules())
    per_pattern: Counter[str] = Counter()
    crossed_at = None
    chunks = cut_chunks(files.transactions, 10_000, tmp_path / "chunks")
    for index, chunk in enumerate(chunks):
        per_pattern.update(d[0] for d in reference.add_chunk(chunk))
        if crossed_at is None and max(reference.merchant_count.values()) > 50_000:
            crossed_at = index
    assert sum(reference.merchant_count.values()) == FULL_ROWS
    assert crossed_at is not None and 0 < crossed_at < len(chunks) - 1
    assert min(per_pattern[p] for p in ("PatId1", "PatId2", "PatId3")) >= 3, per_pattern
