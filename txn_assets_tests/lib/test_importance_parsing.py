"""CustomerImportance read with Arrow gives exactly what Spark's parser gives, whatever the lines;
Spark is asked only for the lines it has to judge."""

from __future__ import annotations

from pathlib import Path

import pytest

from txn_assets.lib.csv_header import importance_layout, read_first_line
from txn_assets.lib.importance_parsing import summarise_importance
from txn_assets.lib.spark_parsing import collect_summaries
from txn_assets_tests.builders import write_importance

HEADER = b"Source,Target,Weight,typeTrans,fraud"
# Every kind of line Spark's parser tells apart, plain ones between them.
LINES = [
    b"'C1','M1',1,'es_food',0",
    b"'C1','M1',2,'es,food',0",  # a comma inside quotes: Spark's quote-aware split, a good row
    b"'C2','M1',4.25,'es_food',0",
    b" 'C2' , 'M1' ,' 0.75 ',es_food,0",  # spaces and quotes around fields
    b'"C3","M2",3.5,"es_food",0',
    b"C3,M2,0,es_food,0",
    b"",
    b"   ",
    b"'C4','M2',1,'es_food'",  # a field short
    b"'C4','M2',1,'es_food',0,",  # a field too many
    b"'','M2',1,'es_food',0",  # empty customer
    b"'C4','',1,'es_food',0",  # empty merchant
    b"'C4','M2',,'es_food',0",  # empty weight
    b"'C5','M3',1e3,'es_food',0",  # a number, not written as plain digits
    b"'C5','M3',-1,'es_food',0",
    b"'C5','M3',-0,'es_food',0",
    b"'C5','M3',+2,'es_food',0",
    b"'C5','M3',.5,'es_food',0",
    b"'C5','M3',5.,'es_food',0",
    b"'C5','M3',1.1234565,'es_food',0",  # rounded to six decimals
    b"'C5','M3',0000000001.5,'es_food',0",
    b"'C5','M3',999999999.999999,'es_food',0",
    b"'C5','M3',1000000000,'es_food',0",  # the limit itself
    b"'C5','M3',1000000000.5,'es_food',0",  # absurdly large
    b"'C5','M3',NaN,'es_food',0",
    b"'C5','M3',Infinity,'es_food',0",
    b"'C5','M3',abc,'es_food',0",
    b"'C6,'M3',1,'es_food',0",  # a quote opened and not closed
    b"'C6','M3',1,'es_food',0\r",  # a CRLF line end
    b"'C6','M3',1,'es_food',0\r\r",
    b"'C\x007','M3',1,'es_food',0",  # a NUL byte
    b"'C\xff7','M3',1,'es_food',0",  # not UTF-8
    b"'\xc3\x871','M3',2.5,'es_food',0",  # UTF-8 beyond ASCII
    b"Source,Target,Weight,typeTrans,fraud",  # the header again
    b"'C1','M1',0.000001,'es_food',0",
]


def _comparable(summary):
    pairs = sorted(
        (r["customer"], r["merchant"], r["weight_rows"], str(r["weight_sum"]))
        for r in summary.aggregates.to_pylist()
    )
    return summary.header, pairs, summary.bad_rows


def _spark_summary(spark, path: Path):
    layout = importance_layout(read_first_line(path))
    return collect_summaries(spark, [str(path)], layout, "importance")[path.name]


@pytest.mark.parametrize(
    ("start", "ending"),
    [(b"", b"\n"), (b"", b"\r\n"), (b"", b""), (b"\xef\xbb\xbf", b"\n")],
    ids=["lf", "crlf", "no-last-newline", "byte-order-mark"],
)
def test_every_kind_of_line_is_summarised_exactly_as_spark_summarises_it(
    spark, tmp_path, start, ending
):
    path = tmp_path / "importance.csv"
    lines = ending.join([HEADER, *LINES]) + ending if ending else b"\n".join([HEADER, *LINES])
    path.write_bytes(start + lines)
    asked = []

    def session():
        asked.append(True)
        return spark

    found = summarise_importance(
        path, importance_layout(read_first_line(path)), session, tmp_path / "scratch"
    )

    expected = _spark_summary(spark, path)
    assert _comparable(found) == _comparable(expected)
    assert [(f.name, f.type) for f in found.aggregates.schema] == [
        (f.name, f.type) for f in expected.aggregates.schema
    ]
    assert len(expected.bad_rows) >= 10 and expected.aggregates.num_rows >= 5  # a real mix
    # The plain (C1, M1) line and the quoted-comma one Spark judged: one pair, summed exactly.
    assert ("C1", "M1", 3, "3.000001") in _comparable(found)[1]
    assert asked and list((tmp_path / "scratch").iterdir()) == []


def test_a_clean_file_never_asks_for_spark(spark, tmp_path):
    # Columns found by name in another order, a byte-order mark, repeated pairs, blank lines.
    path = tmp_path / "importance.csv"
    rows = [f"{w}.{w % 100:02d},'M{w % 7}','C{w % 13}'" for w in range(3000)]
    path.write_bytes(b"\xef\xbb\xbfWeight,Target,Source\n" + "\n\n".join(rows).encode() + b"\n")

    def no_session():
        raise AssertionError("a clean file needs no Spark")

    found = summarise_importance(path, importance_layout(read_first_line(path)), no_session)

    assert _comparable(found) == _comparable(_spark_summary(spark, path))
    assert found.aggregates.num_rows == 7 * 13 and found.bad_rows == []


def test_an_empty_weight_file_has_the_header_only(spark, tmp_path):
    path = write_importance(tmp_path / "importance.csv", [])
    found = summarise_importance(path, importance_layout(read_first_line(path)), lambda: spark)
    assert _comparable(found) == _comparable(_spark_summary(spark, path))
    assert found.aggregates.num_rows == 0
