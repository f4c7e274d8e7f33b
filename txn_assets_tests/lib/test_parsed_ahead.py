"""A CustomerImportance file parsed ahead is exactly what the weights load would have parsed."""

from __future__ import annotations

import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from txn_assets.lib import parsed_ahead
from txn_assets.lib.checksums import md5_file
from txn_assets.lib.csv_header import importance_layout
from txn_assets.lib.generate import IMPORTANCE_HEADER
from txn_assets.lib.parsed_ahead import announce_importance, take_importance
from txn_assets.lib.spark_parsing import FileSummary, collect_summaries
from txn_assets.lib.state.engine import load_weights
from txn_assets_tests.builders import write_importance

ROWS = [
    ("C1", "M1", "0.5"),
    ("C1", "M1", "1.5"),  # the same pair again: one aggregate of two rows
    ("C2", "M1", "-1"),  # quarantined
    "'C3','M2',not-a-number,'es_food',0",  # quarantined
    ("C3", "M2", "2"),
]


@pytest.fixture(autouse=True)
def nothing_announced(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no parse announced (they are kept per process)."""
    monkeypatch.setattr(parsed_ahead, "_parses", {})


class UnusableSpark:
    """A session that fails on any use: proves the load parsed nothing itself."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the load used Spark ({name}) instead of the parse ahead")


def test_the_parse_ahead_equals_a_parse_of_the_file(spark, tmp_path):
    path = write_importance(tmp_path / "CustomerImportance.csv", ROWS)

    announced = announce_importance(path, tmp_path / "scratch")
    assert announced is not None
    assert announced.copy.parent.parent == tmp_path / "scratch"  # the home's, not /tmp
    announced.run(lambda: spark)
    ahead = take_importance(md5_file(path))
    assert list((tmp_path / "scratch").iterdir()) == []  # the copy is gone once parsed

    direct = collect_summaries(
        spark, [str(path)], importance_layout(IMPORTANCE_HEADER), "importance"
    )[path.name]
    assert announced.md5 == md5_file(path)
    assert ahead is not None
    assert ahead.header == direct.header
    assert (
        ahead.bad_rows
        == direct.bad_rows
        == [
            (3, "weight is negative: -1"),
            (4, "weight is not a number: not-a-number"),
        ]
    )
    key = ("customer", "merchant")
    assert sorted(ahead.aggregates.to_pylist(), key=lambda r: [r[k] for k in key]) == sorted(
        direct.aggregates.to_pylist(), key=lambda r: [r[k] for k in key]
    )


def test_the_weights_load_takes_the_parse_ahead_instead_of_parsing(spark, conn, tmp_path):
    path = write_importance(tmp_path / "CustomerImportance.csv", ROWS)
    announced = announce_importance(path)
    assert announced is not None
    announced.run(lambda: spark)

    result = load_weights(conn, UnusableSpark(), str(path), md5_file(path))  # type: ignore[arg-type]

    assert (result.pairs, result.quarantined_rows, result.already_loaded) == (2, 2, False)
    weights = conn.execute(
        "SELECT customer, merchant, weight FROM txn.customer_weight ORDER BY 1"
    ).fetchall()
    assert [(c, m, float(w)) for c, m, w in weights] == [("C1", "M1", 1.0), ("C3", "M2", 2.0)]
    quarantined = conn.execute("SELECT count(*) FROM txn.quarantine").fetchone()[0]
    assert quarantined == 2


def test_another_file_or_a_second_take_finds_nothing(spark, tmp_path):
    path = write_importance(tmp_path / "CustomerImportance.csv", ROWS)
    other = write_importance(tmp_path / "other.csv", [("C9", "M9", "1")])
    announced = announce_importance(path)
    assert announced is not None
    assert announce_importance(path) is None  # announced already: one parse per md5
    announced.run(lambda: spark)

    assert take_importance(md5_file(other), wait_seconds=0) is None
    assert take_importance(md5_file(path)) is not None
    assert take_importance(md5_file(path), wait_seconds=0) is None  # taken means forgotten


def test_a_load_arriving_during_the_parse_waits_for_it(spark, tmp_path):
    path = write_importance(tmp_path / "CustomerImportance.csv", ROWS)
    asked, release = threading.Event(), threading.Event()

    def session_once_released() -> Any:
        asked.set()  # the session is still "starting"
        release.wait(30)
        return spark

    announced = announce_importance(path)
    assert announced is not None
    parsing = threading.Thread(target=announced.run, args=(session_once_released,))
    parsing.start()
    assert asked.wait(30)
    threading.Timer(0.5, release.set).start()

    taken = take_importance(md5_file(path), wait_seconds=60)
    parsing.join(60)

    assert release.is_set()
    assert taken is not None and len(taken.aggregates) == 2


def test_an_unreadable_file_is_left_to_the_load(tmp_path: Path):
    missing = tmp_path / "CustomerImportance.csv"
    assert announce_importance(missing) is None


def _handover_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(f"{parsed_ahead.HANDOVER_PREFIX}*"))


def test_a_parse_handed_over_reaches_a_load_in_another_process(spark, conn, tmp_path, monkeypatch):
    path = write_importance(tmp_path / "CustomerImportance.csv", ROWS)
    scratch = tmp_path / "scratch"
    announced = announce_importance(path, scratch, hand_over=True)
    assert announced is not None
    assert _handover_files(scratch) == [f"{parsed_ahead.HANDOVER_PREFIX}{announced.md5}.parsing"]
    announced.run(lambda: spark)
    assert _handover_files(scratch) == [f"{parsed_ahead.HANDOVER_PREFIX}{announced.md5}.arrow"]
    monkeypatch.setattr(parsed_ahead, "_parses", {})  # the load's process announced nothing

    result = load_weights(  # type: ignore[arg-type]
        conn, UnusableSpark(), str(path), md5_file(path), handed_over_in=scratch
    )

    assert (result.pairs, result.quarantined_rows, result.already_loaded) == (2, 2, False)
    weights = conn.execute(
        "SELECT customer, merchant, weight FROM txn.customer_weight ORDER BY 1"
    ).fetchall()
    assert [(c, m, float(w)) for c, m, w in weights] == [("C1", "M1", 1.0), ("C3", "M2", 2.0)]
    reasons = conn.execute("SELECT reason FROM txn.quarantine ORDER BY 1").fetchall()
    assert [r for (r,) in reasons] == [
        "weight is negative: -1",
        "weight is not a number: not-a-number",
    ]
    assert _handover_files(scratch) == []  # taken means forgotten


def test_a_load_in_another_process_waits_for_the_handed_over_parse(spark, tmp_path):
    path = write_importance(tmp_path / "CustomerImportance.csv", ROWS)
    scratch = tmp_path / "scratch"
    asked, release = threading.Event(), threading.Event()

    def session_once_released() -> Any:
        asked.set()
        release.wait(30)
        return spark

    announced = announce_importance(path, scratch, hand_over=True)
    assert announced is not None
    parsed_ahead._parses.pop(announced.md5)  # seen from another process: only the folder
    parsing = threading.Thread(target=announced.run, args=(session_once_released,))
    parsing.start()
    assert asked.wait(30)
    threading.Timer(0.5, release.set).start()

    taken = take_importance(announced.md5, wait_seconds=60, handed_over_in=scratch)
    parsing.join(60)

    assert release.is_set()
    direct = collect_summaries(
        spark, [str(path)], importance_layout(IMPORTANCE_HEADER), "importance"
    )[path.name]
    assert taken is not None
    assert (taken.header, taken.bad_rows) == (direct.header, direct.bad_rows)
    assert taken.aggregates.sort_by("customer") == direct.aggregates.sort_by("customer")


def test_the_marker_of_a_killed_parser_is_not_waited_for(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    dead = subprocess.Popen(["true"])  # a pid that no longer runs
    dead.wait()
    _, marker = parsed_ahead.handover_paths(scratch, "abc")
    marker.write_text(str(dead.pid))

    started = time.monotonic()
    assert take_importance("abc", wait_seconds=600, handed_over_in=scratch) is None
    assert time.monotonic() - started < 60, "waited for a process that had exited"


def test_the_hand_over_keeps_weight_sums_exact_decimals(tmp_path):
    exact = Decimal("0.1") + Decimal("0.2")  # 0.30000000000000004 as a float
    summary = FileSummary(
        "Source,Target,Weight,typeTrans,fraud",
        pa.table(
            {
                "customer": ["C1"],
                "merchant": ["M1"],
                "weight_rows": [2],
                "weight_sum": pa.array([exact], pa.decimal128(30, 6)),
            }
        ),
        [(3, "weight is negative: -1")],
    )
    parsed_ahead._write_handover(tmp_path, "abc", summary)

    taken = take_importance("abc", wait_seconds=0, handed_over_in=tmp_path)

    assert taken == summary
    assert taken is not None and taken.aggregates["weight_sum"][0].as_py() == Decimal("0.3")


def test_a_parse_handed_over_is_not_kept_in_memory_and_its_own_process_takes_it_once(
    spark, tmp_path
):
    path = write_importance(tmp_path / "CustomerImportance.csv", ROWS)
    scratch = tmp_path / "scratch"
    announced = announce_importance(path, scratch, hand_over=True)
    assert announced is not None
    announced.run(lambda: spark)

    assert announced.summary is None  # `dev` holds no copy of what it handed over
    taken = take_importance(announced.md5, wait_seconds=0)  # `run --spark connect`: in process
    assert taken is not None and len(taken.aggregates) == 2
    assert take_importance(announced.md5, wait_seconds=0, handed_over_in=scratch) is None
