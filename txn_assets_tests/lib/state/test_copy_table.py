"""Pair aggregates reach PostgreSQL through Arrow's CSV writer and COPY: value for value."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from txn_assets.lib.spark_parsing import FileSummary
from txn_assets.lib.state import engine
from txn_assets.lib.state.queries import chunks as q

# What a quoted field may hold: quotes and commas, nothing at all, non-ASCII, a carriage return,
# and the two texts COPY treats specially outside quotes (end of data, the null marker).
NAMES = ['say "hi", ok', "", "é,ü", "cr\rinside", "\\.", "NULL"]


@pytest.mark.parametrize("client_encoding", ["UTF8", "LATIN1"])
def test_pairs_copied_as_csv_read_back_value_for_value(conn, client_encoding):
    pairs = pa.table(
        {
            "merchant": NAMES,
            "customer": list(reversed(NAMES)),
            "txn_count": [1, 2, 3, 4, 5, 2**40],
            "amount_sum": pa.array(
                [Decimal("0.3"), Decimal("0"), Decimal("12345678901234567890.000001")] * 2,
                pa.decimal128(30, 6),
            ),
            "seen_female": [True, False, True, False, True, False],
            "seen_male": [False, False, True, True, False, True],
        }
    )
    conn.execute(f"SET client_encoding TO '{client_encoding}'")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(q.CREATE_CHUNK_PAIR)
        engine._copy_table(cur, q.COPY_CHUNK_PAIR, pairs.select(q.CHUNK_PAIR_COLUMNS))
        stored = cur.execute(f"SELECT {', '.join(q.CHUNK_PAIR_COLUMNS)} FROM chunk_pair").fetchall()

    expected = [tuple(row.values()) for row in pairs.to_pylist()]
    assert sorted(stored) == sorted(expected)


def test_an_empty_summary_copies_nothing(conn):
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(q.CREATE_CHUNK_PAIR)
        empty = FileSummary.empty("transactions").aggregates
        engine._copy_table(cur, q.COPY_CHUNK_PAIR, empty.select(q.CHUNK_PAIR_COLUMNS))
        assert cur.execute("SELECT count(*) FROM chunk_pair").fetchone() == (0,)
