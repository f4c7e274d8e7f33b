"""The engine, chunk by chunk over generated data, equals a plain whole-history recomputation."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.generate import generate
from txn_assets.lib.rules import DetectionRules
from txn_assets.lib.state.engine import apply_chunk, load_weights
from txn_assets_tests.chunking import cut_chunks
from txn_assets_tests.reference import Reference
from txn_assets_tests.reference import load_weights as reference_weights

# Scaled to 60,000 rows so that every pattern fires and the volume gate opens mid-stream.
RULES = DetectionRules(
    upgrade_min_merchant_txns=12_000, child_min_txns=20, dei_min_female_customers=30
)
BAD_LINES = {
    7: "1,'C1','3'",
    12_345: "5,'C1','3','F','28007','M1','28007','es_food',not-a-number,0",
    20_002: "6,'C1','3','F','28007','M1','28007','es_food',-3.00,0",
    30_003: "7,'C1','3','F','28007','M1','28007','es_food',5e12,0",
    35_000: "8,'C\x001','3','F','28007','M1','28007','es_food',3.00,0",
    40_001: "9,'','3','F','28007','M1','28007','es_food',3.00,0",
}
# Not rows at all: neither applied nor quarantined.
BLANK_LINES = (9_999, 50_000)
EVIDENCE_OF_CHUNK = """
SELECT pattern_id, customer, merchant, evidence::text FROM txn.detection
WHERE chunk_index = %(chunk_index)s ORDER BY seq
"""


def _stored_evidence(conn, chunk_index):
    """Each detection's evidence as stored, numbers read exactly (decimals as Decimal)."""
    rows = conn.execute(EVIDENCE_OF_CHUNK, {"chunk_index": chunk_index}).fetchall()
    conn.commit()
    return {(p, c, m): json.loads(e, parse_float=Decimal) for p, c, m, e in rows}


@pytest.mark.slow
def test_engine_equals_whole_history_recomputation_after_every_chunk(conn, spark, scratch):
    files = generate(scratch / "source", rows=60_000, seed=11)
    lines = files.transactions.read_text().splitlines(keepends=True)
    for line_number, bad in BAD_LINES.items():
        lines[line_number] = bad + "\n"
    for line_number in BLANK_LINES:
        lines[line_number] = "\n"
    files.transactions.write_text("".join(lines))

    load_weights(conn, lambda: spark, str(files.importance), md5_file(files.importance))
    reference = Reference(reference_weights(files.importance), RULES)
    gate_opened_at = None
    fired: set[str] = set()
    quarantined = 0
    for index, chunk in enumerate(cut_chunks(files.transactions, 5_000, scratch / "chunks")):
        result = apply_chunk(conn, spark, index, str(chunk), md5_file(chunk), RULES)
        expected = reference.add_chunk(chunk)
        got = [(d.pattern_id, d.customer, d.merchant) for d in result.detections]
        assert got == expected, f"chunk {index}"
        # The evidence is what the recomputation finds at the detecting chunk, number for number.
        assert _stored_evidence(conn, index) == {d: reference.evidence[d] for d in expected}, (
            f"evidence of chunk {index}"
        )
        fired |= {d[0] for d in expected}
        quarantined += result.quarantined_rows
        if (
            gate_opened_at is None
            and max(reference.merchant_count.values()) > RULES.upgrade_min_merchant_txns
        ):
            gate_opened_at = index
    assert fired == {"PatId1", "PatId2", "PatId3"}, "the data must exercise every pattern"
    assert gate_opened_at is not None and 0 < gate_opened_at < index
    assert quarantined == len(BAD_LINES)
    seqs = [r[0] for r in conn.execute("SELECT seq FROM txn.detection ORDER BY seq")]
    assert seqs == list(range(len(reference.emitted)))
