"""The chunk engine against real PostgreSQL and Spark: each rule at its edges, and exactly-once."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.csv_header import HeaderError
from txn_assets.lib.rules import DetectionRules
from txn_assets.lib.state.engine import (
    CANONICAL_LAYOUT,
    ChunkInput,
    ChunkResult,
    apply_chunk,
    apply_chunks,
    load_weights,
    parse_batch,
)
from txn_assets.lib.state.errors import (
    ChunkContentChangedError,
    ChunkOrderError,
    ReferenceDataChangedError,
    RulesChangedError,
    WeightsNotLoadedError,
)
from txn_assets_tests.builders import Txn, txns, write_chunk, write_chunk_bytes, write_importance

DEFAULTS = DetectionRules()
SMALL_UPGRADE = DetectionRules(upgrade_min_merchant_txns=10)


def _load(conn: Any, spark: Any, folder: Path, rows: list[Any]) -> None:
    path = write_importance(folder / "importance.csv", rows)
    load_weights(conn, lambda: spark, str(path), md5_file(path))


def _apply(
    conn: Any,
    spark: Any,
    folder: Path,
    index: int,
    rows: list[Any],
    rules: DetectionRules = DEFAULTS,
) -> ChunkResult:
    path = write_chunk(folder / f"chunk-{index}.csv", rows)
    return apply_chunk(conn, spark, index, str(path), md5_file(path), rules)


def _found(result: ChunkResult) -> list[tuple[str, str, str]]:
    return [(d.action_type, d.customer, d.merchant) for d in result.detections]


def _state(conn: psycopg.Connection[Any]) -> dict[str, list[tuple[Any, ...]]]:
    tables = ["merchant_customer", "merchant", "applied_chunk", "quarantine", "detection", "stream"]
    snapshot = {t: conn.execute(f"SELECT * FROM txn.{t} ORDER BY 1, 2").fetchall() for t in tables}
    conn.commit()
    return snapshot


@pytest.fixture
def weighted(conn: Any, spark: Any, scratch: Path) -> None:
    """Weights loaded (one irrelevant pair) so that chunks may apply."""
    _load(conn, spark, scratch, [("C0", "M0", "1.00")])


@pytest.mark.usefixtures("weighted")
class TestChild:
    def test_child_fires_at_exactly_80_transactions_with_mean_below_23(self, conn, spark, scratch):
        rows = [*txns("C1", "M1", 79, "22.98"), Txn("C1", "M1", "22.99")]
        assert _found(_apply(conn, spark, scratch, 0, rows)) == [("CHILD", "C1", "M1")]

    def test_child_needs_mean_strictly_below_23(self, conn, spark, scratch):
        # 79 x 23.01 + 1 x 22.21 = 80 x 23 exactly: the mean equals the cap, so no detection.
        rows = [*txns("C1", "M1", 79, "23.01"), Txn("C1", "M1", "22.21")]
        assert _found(_apply(conn, spark, scratch, 0, rows)) == []

    def test_child_needs_80_transactions(self, conn, spark, scratch):
        assert _found(_apply(conn, spark, scratch, 0, txns("C1", "M1", 79, "1.00"))) == []

    def test_child_counts_cumulatively_across_chunks(self, conn, spark, scratch):
        assert _found(_apply(conn, spark, scratch, 0, txns("C1", "M1", 40, "10.00"))) == []
        assert _found(_apply(conn, spark, scratch, 1, txns("C1", "M1", 40, "10.00"))) == [
            ("CHILD", "C1", "M1")
        ]

    def test_detection_is_emitted_once_and_never_retracted(self, conn, spark, scratch):
        assert len(_apply(conn, spark, scratch, 0, txns("C1", "M1", 80, "1.00")).detections) == 1
        # Still holds: not emitted again.
        assert _apply(conn, spark, scratch, 1, txns("C1", "M1", 5, "1.00")).detections == []
        # No longer holds (mean far above 23): nothing retracted, nothing new.
        assert _apply(conn, spark, scratch, 2, txns("C1", "M1", 5, "9999.00")).detections == []
        count = conn.execute("SELECT count(*) FROM txn.detection").fetchone()[0]
        assert count == 1


def _females_and_males(merchant: str, females: int, males: int, others: int = 0) -> list[Txn]:
    rows = [Txn(f"F{i}", merchant, "50.00", "F") for i in range(females)]
    rows += [Txn(f"M{i}", merchant, "50.00", "M") for i in range(males)]
    rows += [Txn(f"E{i}", merchant, "50.00", "E" if i % 2 else "U") for i in range(others)]
    return rows


@pytest.mark.usefixtures("weighted")
class TestDeiNeeded:
    def test_dei_fires_with_101_females_and_more_males(self, conn, spark, scratch):
        result = _apply(conn, spark, scratch, 0, _females_and_males("M1", 101, 102))
        assert _found(result) == [("DEI-NEEDED", "", "M1")]

    def test_dei_needs_more_than_100_females(self, conn, spark, scratch):
        assert _found(_apply(conn, spark, scratch, 0, _females_and_males("M1", 100, 200))) == []

    def test_dei_needs_strictly_fewer_females_than_males(self, conn, spark, scratch):
        assert _found(_apply(conn, spark, scratch, 0, _females_and_males("M1", 101, 101))) == []

    def test_dei_counts_distinct_customers_and_ignores_e_and_u(self, conn, spark, scratch):
        # 101 females, each twice; 100 males and 50 E/U customers: E and U are neither.
        rows = _females_and_males("M1", 101, 100, others=50) + _females_and_males("M1", 101, 0)
        assert _found(_apply(conn, spark, scratch, 0, rows)) == []
        # One more male draws level (101/101): still nothing. A second tips it.
        assert _found(_apply(conn, spark, scratch, 1, [Txn("M-new1", "M1", "5", "M")])) == []
        assert _found(_apply(conn, spark, scratch, 2, [Txn("M-new2", "M1", "5", "M")])) == [
            ("DEI-NEEDED", "", "M1")
        ]

    def test_dei_customer_name_is_empty(self, conn, spark, scratch):
        result = _apply(conn, spark, scratch, 0, _females_and_males("M1", 101, 102))
        assert result.detections[0].customer == ""


class TestUpgrade:
    def _gate_chunk(self, merchant_rows: int) -> list[Txn]:
        return txns("A", "M1", merchant_rows - 10, "30.00") + txns("B", "M1", 10, "30.00")

    def test_upgrade_needs_more_than_50000_merchant_transactions(self, conn, spark, scratch):
        _load(conn, spark, scratch, [("A", "M1", "1.00"), ("B", "M1", "5.00")])
        assert _found(_apply(conn, spark, scratch, 0, self._gate_chunk(50_000))) == []
        # The 50,001st transaction opens the gate; A is the busiest and lightest customer.
        assert _found(_apply(conn, spark, scratch, 1, [Txn("B", "M1", "30.00")])) == [
            ("UPGRADE", "A", "M1")
        ]

    def test_upgrade_ties_at_percentiles_qualify_and_unweighted_customers_never_do(
        self, conn, spark, scratch
    ):
        # Counts A5 B5 F5 C3 D2 E1 -> 90th percentile 5 (A, B, F tie at it).
        # Weights A1 B2 C1 D3 (E, F none) -> 10th percentile over weighted = 1.0 (A, C tie).
        _load(
            conn,
            spark,
            scratch,
            [
                ("A", "M1", "1"),
                ("B", "M1", "2"),
                ("C", "M1", "0.5"),
                ("C", "M1", "1.5"),
                ("D", "M1", "3"),
                ("F", "M2", "0.1"),
            ],
        )
        rows = (
            txns("A", "M1", 5, "1")
            + txns("B", "M1", 5, "1")
            + txns("F", "M1", 5, "1")
            + txns("C", "M1", 3, "1")
            + txns("D", "M1", 2, "1")
            + txns("E", "M1", 1, "1")
        )
        assert _found(_apply(conn, spark, scratch, 0, rows, SMALL_UPGRADE)) == [
            ("UPGRADE", "A", "M1")
        ]

    def test_upgrade_percentiles_interpolate_linearly(self, conn, spark, scratch):
        # Counts 1..10 -> 90th percentile = 9.1: only the customer with 10 qualifies.
        # Weights 1..10 -> 10th percentile = 1.9: only weight 1 qualifies; so only X10 with w=1.
        weights = [(f"X{n}", "M1", str(11 - n)) for n in range(1, 11)]
        _load(conn, spark, scratch, weights)
        rows = [t for n in range(1, 11) for t in txns(f"X{n}", "M1", n, "1")]
        assert _found(_apply(conn, spark, scratch, 0, rows, SMALL_UPGRADE)) == [
            ("UPGRADE", "X10", "M1")
        ]

    def test_weight_is_the_mean_over_all_importance_rows_of_the_pair(self, conn, spark, scratch):
        _load(
            conn,
            spark,
            scratch,
            [("A", "M1", "1"), ("A", "M1", "3"), "'A','M1',8,'es_food',0", ("B", "M1", "4")],
        )
        weight = conn.execute(
            "SELECT weight FROM txn.customer_weight WHERE customer = 'A'"
        ).fetchone()[0]
        assert weight == pytest.approx(4.0)


class TestExactlyOnce:
    @pytest.mark.usefixtures("weighted")
    def test_rerun_of_applied_chunk_changes_nothing(self, conn, spark, scratch):
        first = _apply(conn, spark, scratch, 0, txns("C1", "M1", 80, "1.00"))
        before = _state(conn)
        again = _apply(conn, spark, scratch, 0, txns("C1", "M1", 80, "1.00"))
        assert _state(conn) == before
        assert again.already_applied and not first.already_applied
        assert again.detections == first.detections

    @pytest.mark.usefixtures("weighted")
    def test_chunk_out_of_order_is_refused(self, conn, spark, scratch):
        with pytest.raises(ChunkOrderError, match="next one is 0"):
            _apply(conn, spark, scratch, 1, txns("C1", "M1", 1, "1"))
        _apply(conn, spark, scratch, 0, txns("C1", "M1", 1, "1"))
        with pytest.raises(ChunkOrderError, match="next one is 1"):
            _apply(conn, spark, scratch, 2, txns("C1", "M1", 1, "1"))

    @pytest.mark.usefixtures("weighted")
    def test_rerun_with_different_content_is_refused(self, conn, spark, scratch):
        _apply(conn, spark, scratch, 0, txns("C1", "M1", 1, "1"))
        with pytest.raises(ChunkContentChangedError):
            _apply(conn, spark, scratch, 0, txns("C1", "M1", 2, "1"))

    def test_chunks_wait_for_weights(self, conn, spark, scratch):
        with pytest.raises(WeightsNotLoadedError):
            _apply(conn, spark, scratch, 0, txns("C1", "M1", 1, "1"))
        assert conn.execute("SELECT count(*) FROM txn.merchant_customer").fetchone()[0] == 0

    def test_reloading_the_same_importance_is_a_no_op_and_another_is_refused(
        self, conn, spark, scratch
    ):
        _load(conn, spark, scratch, [("A", "M1", "1")])
        path = scratch / "importance.csv"
        assert load_weights(conn, lambda: spark, str(path), md5_file(path)).already_loaded
        other = write_importance(scratch / "other.csv", [("A", "M1", "2")])
        with pytest.raises(ReferenceDataChangedError):
            load_weights(conn, lambda: spark, str(other), md5_file(other))

    @pytest.mark.usefixtures("weighted")
    def test_rules_cannot_change_mid_stream(self, conn, spark, scratch):
        _apply(conn, spark, scratch, 0, txns("C1", "M1", 1, "1"))
        with pytest.raises(RulesChangedError):
            _apply(conn, spark, scratch, 1, txns("C1", "M1", 1, "1"), SMALL_UPGRADE)


@pytest.mark.usefixtures("weighted")
class TestBadInput:
    def test_bad_rows_are_quarantined_with_reason_and_not_counted(self, conn, spark, scratch):
        rows = [
            *txns("C1", "M1", 2, "10.00"),
            "1,'C9','3'",  # row 3
            "1,'','3','F','28007','M1','28007','es_food',5.00,0",  # row 4
            "1,'C9','3','F','28007','','28007','es_food',5.00,0",  # row 5
            "1,'C9','3','F','28007','M1','28007','es_food',lots,0",  # row 6
        ]
        result = _apply(conn, spark, scratch, 0, rows)
        assert (result.valid_rows, result.quarantined_rows) == (2, 4)
        stored = conn.execute(
            "SELECT chunk_index, row_number, reason FROM txn.quarantine ORDER BY row_number"
        ).fetchall()
        assert stored == [
            (0, 3, "expected 10 fields, got 3"),
            (0, 4, "empty customer"),
            (0, 5, "empty merchant"),
            (0, 6, "amount is not a number: lots"),
        ]
        assert (
            conn.execute("SELECT txn_count FROM txn.merchant WHERE merchant = 'M1'").fetchone()[0]
            == 2
        )

    def test_quotes_are_stripped(self, conn, spark, scratch):
        _apply(conn, spark, scratch, 0, txns("C1", "M1", 1, "1"))
        assert conn.execute("SELECT customer, merchant FROM txn.merchant_customer").fetchone() == (
            "C1",
            "M1",
        )

    def test_a_chunk_without_the_header_is_rejected_and_the_next_chunk_follows(
        self, conn, spark, scratch
    ):
        path = scratch / "headless.csv"
        path.write_text(Txn("C1", "M1", "1").line() + "\n" + Txn("C2", "M1", "2").line() + "\n")
        result = apply_chunk(conn, spark, 0, str(path), md5_file(path), DEFAULTS)
        assert result.rejected and "not the stream's header" in result.rejected_reason
        assert (result.valid_rows, result.quarantined_rows) == (0, 2)
        ledger = conn.execute("SELECT status, reason FROM txn.applied_chunk").fetchone()
        assert ledger[0] == "rejected" and ledger[1] == result.rejected_reason
        quarantined = conn.execute(
            "SELECT row_number, raw_bytes FROM txn.quarantine ORDER BY row_number"
        ).fetchall()
        assert quarantined == [
            (0, Txn("C1", "M1", "1").line().encode()),
            (1, Txn("C2", "M1", "2").line().encode()),
        ]
        assert conn.execute("SELECT count(*) FROM txn.merchant").fetchone()[0] == 0
        # The stream goes on with the next chunk, and a rerun of the rejected one is a no-op.
        assert not _apply(conn, spark, scratch, 1, txns("C1", "M1", 1, "1")).rejected
        again = apply_chunk(conn, spark, 0, str(path), md5_file(path), DEFAULTS)
        assert again.already_applied and again.rejected

    def test_an_empty_chunk_file_is_rejected(self, conn, spark, scratch):
        path = scratch / "empty.csv"
        path.write_bytes(b"")
        result = apply_chunk(conn, spark, 0, str(path), md5_file(path), DEFAULTS)
        assert result.rejected_reason == "the file is empty"


GOOD = "0,'C1','3','F','28007','M1','28007','es_food',10.00,0"


@pytest.mark.usefixtures("weighted")
class TestDirtyRows:
    """Every row is accounted for: applied, or quarantined with its reason and exact bytes."""

    def _quarantine(self, conn: Any) -> list[tuple[int, str, bytes]]:
        rows = conn.execute(
            "SELECT row_number, reason, raw_bytes FROM txn.quarantine ORDER BY row_number"
        ).fetchall()
        conn.commit()
        return rows

    def test_each_bad_row_class_is_quarantined_with_a_precise_reason(self, conn, spark, scratch):
        lines = [
            GOOD.encode(),  # 1: fine
            b"0,'C2','3','F'",  # 2
            b"0,'','3','F','28007','M1','28007','es_food',1.00,0",  # 3
            b"0,'C2','3','F','28007',' ','28007','es_food',1.00,0",  # 4
            b"0,'C2','3','F','28007','M1','28007','es_food',abc,0",  # 5
            b"0,'C2','3','F','28007','M1','28007','es_food',-4.50,0",  # 6
            b"0,'C2','3','F','28007','M1','28007','es_food',1e15,0",  # 7
            b"0,'C2','3','F','28007','M1','28007','es_food',NaN,0",  # 8
            b"0,'C\x002','3','F','28007','M1','28007','es_food',1.00,0",  # 9: NUL byte
            b"0,'C\xff\xfe2','3','F','28007','M1','28007','es_food',1.00,0",  # 10: not UTF-8
            b"x,'C2','3','F','28007','M1','28007','es_food',1.00,0",  # 11
        ]
        path = write_chunk_bytes(scratch / "chunk-0.csv", lines)
        result = apply_chunk(conn, spark, 0, str(path), md5_file(path), DEFAULTS)
        assert (result.valid_rows, result.quarantined_rows) == (1, 10)
        stored = self._quarantine(conn)
        assert [(n, reason) for n, reason, _ in stored] == [
            (2, "expected 10 fields, got 4"),
            (3, "empty customer"),
            (4, "empty merchant"),
            (5, "amount is not a number: abc"),
            (6, "amount is negative: -4.50"),
            (7, "amount is absurdly large: 1e15 (more than 1,000,000,000)"),
            (8, "amount is not a number: NaN"),
            (9, "contains a NUL byte"),
            (10, "not valid UTF-8"),
            (11, "step is not an integer: x"),
        ]
        assert [raw for _, _, raw in stored] == lines[1:], "raw bytes are kept exactly"

    def test_a_comma_inside_a_quoted_field_is_part_of_the_field(self, conn, spark, scratch):
        lines = [
            b"0,'C1','3','F','28007','M,1','28007','es_food',10.00,0",
            b'0,"C2","3","M","28007","M,1","28007","es_food",12.00,0',
        ]
        path = write_chunk_bytes(scratch / "chunk-0.csv", lines)
        result = apply_chunk(conn, spark, 0, str(path), md5_file(path), DEFAULTS)
        assert (result.valid_rows, result.quarantined_rows) == (2, 0)
        pairs = conn.execute(
            "SELECT merchant, customer FROM txn.merchant_customer ORDER BY 2"
        ).fetchall()
        assert pairs == [("M,1", "C1"), ("M,1", "C2")]

    def test_crlf_blank_lines_and_unknown_genders(self, conn, spark, scratch):
        lines = [
            GOOD.encode(),
            b"",
            b"   ",
            GOOD.replace("'F'", "'X'").encode(),
            GOOD.replace("'F'", "'E'").replace("C1", "C3").encode(),
        ]
        path = write_chunk_bytes(scratch / "chunk-0.csv", lines, ending=b"\r\n")
        result = apply_chunk(conn, spark, 0, str(path), md5_file(path), DEFAULTS)
        assert (result.valid_rows, result.quarantined_rows) == (3, 0), "blank lines are not rows"
        assert result.gender_rows == {
            "female_rows": 1,
            "male_rows": 0,
            "neither_rows": 1,
            "unknown_gender_rows": 1,
        }
        assert conn.execute(
            "SELECT seen_female, seen_male FROM txn.merchant_customer WHERE customer = 'C1'"
        ).fetchone() == (True, False)
        again = apply_chunk(conn, spark, 0, str(path), md5_file(path), DEFAULTS)
        assert again.gender_rows == result.gender_rows, "a rerun reports the stored counts"


@pytest.mark.usefixtures("weighted")
class TestBatches:
    def _inputs(self, folder: Path, chunks: list[list[Any]]) -> list[ChunkInput]:
        inputs = []
        for index, rows in enumerate(chunks):
            path = write_chunk(folder / f"chunk-{index:06d}.csv", rows)
            inputs.append(ChunkInput(index, str(path), md5_file(path)))
        return inputs

    CHUNKS: ClassVar[list[list[Any]]] = [
        txns("C1", "M1", 40, "10.00"),
        [*txns("C1", "M1", 40, "10.00"), "1,'C9','3'"],
        _females_and_males("M2", 101, 102),
    ]

    def test_one_spark_action_for_a_batch_equals_chunk_by_chunk(
        self, conn, spark, scratch, database_url
    ):
        batch = apply_chunks(conn, spark, self._inputs(scratch, self.CHUNKS), DEFAULTS)
        assert [(r.chunk_index, r.valid_rows, r.quarantined_rows) for r in batch] == [
            (0, 40, 0),
            (1, 40, 1),
            (2, 203, 0),
        ]
        assert [_found(r) for r in batch] == [
            [],
            [("CHILD", "C1", "M1")],
            [("DEI-NEEDED", "", "M2")],
        ]
        seqs = conn.execute("SELECT chunk_index, seq FROM txn.detection ORDER BY seq").fetchall()
        assert seqs == [(1, 0), (2, 1)]

    def test_a_batch_parsed_ahead_is_merged_without_spark(self, conn, spark, scratch):
        inputs = self._inputs(scratch, self.CHUNKS)
        parsed = parse_batch(spark, inputs, CANONICAL_LAYOUT)
        results = apply_chunks(conn, None, inputs, DEFAULTS, parsed=parsed)
        assert [(r.chunk_index, r.valid_rows, r.quarantined_rows) for r in results] == [
            (0, 40, 0),
            (1, 40, 1),
            (2, 203, 0),
        ]

    def test_a_parse_that_lacks_a_chunk_is_refused_not_taken_for_an_empty_file(
        self, conn, spark, scratch
    ):
        inputs = self._inputs(scratch, self.CHUNKS)
        parsed = parse_batch(spark, inputs[:2], CANONICAL_LAYOUT)
        with pytest.raises(ValueError, match="not in the parsed batch"):
            apply_chunks(conn, None, inputs, DEFAULTS, parsed=parsed)
        assert conn.execute("SELECT count(*) FROM txn.applied_chunk").fetchone() == (0,)

    def test_a_batch_skips_applied_chunks_and_applies_the_rest_in_order(self, conn, spark, scratch):
        inputs = self._inputs(scratch, self.CHUNKS)
        apply_chunks(conn, spark, inputs[:1], DEFAULTS)
        results = apply_chunks(conn, spark, list(reversed(inputs)), DEFAULTS)
        assert [(r.chunk_index, r.already_applied) for r in results] == [
            (0, True),
            (1, False),
            (2, False),
        ]


class TestWeights:
    def test_columns_are_found_by_name_and_bad_rows_quarantined(self, conn, spark, scratch):
        path = scratch / "imp.csv"
        path.write_bytes(
            b"\xef\xbb\xbf'WEIGHT', Target ,\"source\"\r\n"
            b"2,'M1','A'\r\n"
            b"oops,'M1','B'\r\n"
            b"4,'M1','A'\r\n"
        )
        result = load_weights(conn, lambda: spark, str(path), md5_file(path))
        assert (result.pairs, result.quarantined_rows) == (1, 1)
        assert conn.execute(
            "SELECT customer, merchant, weight FROM txn.customer_weight"
        ).fetchall() == [("A", "M1", 3.0)]
        assert conn.execute("SELECT reason, raw_bytes FROM txn.quarantine").fetchone() == (
            "weight is not a number: oops",
            b"oops,'M1','B'\r",
        )

    def test_a_missing_column_is_one_clear_error(self, conn, spark, scratch):
        path = write_importance(scratch / "imp.csv", [])
        path.write_text("Source,Target,typeTrans\n'A','M1','x'\n")
        with pytest.raises(HeaderError, match=r"imp\.csv: the header has no column 'Weight'"):
            load_weights(conn, lambda: spark, str(path), md5_file(path))

    def test_two_loaders_racing_load_once(self, conn, spark, scratch, database_url, monkeypatch):
        import threading

        import psycopg

        from txn_assets.lib import importance_parsing

        path = write_importance(scratch / "imp.csv", [("A", "M1", "1"), ("B", "M1", "2")])
        both_parsed = threading.Barrier(2, timeout=60)
        real = importance_parsing.summarise_importance

        def parse_then_wait(*args, **kwargs):
            found = real(*args, **kwargs)
            both_parsed.wait()  # both have parsed before either inserts: a real race
            return found

        monkeypatch.setattr(importance_parsing, "summarise_importance", parse_then_wait)
        results, errors = [], []

        def loader() -> None:
            try:
                with psycopg.connect(database_url) as own:
                    results.append(load_weights(own, lambda: spark, str(path), md5_file(path)))
            except Exception as err:  # surfaced below
                errors.append(err)

        threads = [threading.Thread(target=loader) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert errors == []
        assert sorted(r.already_loaded for r in results) == [False, True]
        assert conn.execute("SELECT count(*) FROM txn.customer_weight").fetchone()[0] == 2
