"""The console's progress: plain periodic lines off a terminal, a live panel on one, same figures."""

from __future__ import annotations

import io

from rich.console import Console

from txn_assets.console import LiveDisplay, Pace, PlainLines, Snapshot, progress_line
from txn_assets.lib.stream_status import StreamStatus
from txn_assets.lib.stream_summary import ProgressFigures


def _snapshot(elapsed: float, staged: int, applied: int, total: int | None = None) -> Snapshot:
    status = StreamStatus(
        staged=staged,
        applied=applied,
        next_chunk=applied,
        detections=applied * 2,
        files=applied // 25,
        weights_md5="w",
        total_chunks=total,
        oldest_pending_seconds=None,
        rejected=[],
    )
    figures = ProgressFigures(
        rows_applied=applied * 10_000,
        rows_quarantined=applied,
        detections={"UPGRADE": applied, "CHILD": 0, "DEI-NEEDED": applied},
        bytes_staged=staged * 100,
        source_bytes=6_000,
    )
    return Snapshot(status, figures, elapsed)


def test_pace_is_rows_per_second_and_time_left_of_the_recent_window():
    pace = Pace()
    for second in range(5):
        pace.add(_snapshot(float(second), staged=second + 1, applied=second))
    assert pace.rows_per_second() == 10_000
    # 5 of ~60 chunks staged at one per second, 4 applied: 56 left at one chunk per second.
    assert pace.seconds_left() == 56


def test_off_a_terminal_lines_come_at_most_every_few_seconds_and_the_last_one_always():
    out = io.StringIO()
    lines = PlainLines(out, every_s=5)
    for second in range(12):
        lines.show(_snapshot(float(second), staged=second + 1, applied=second))
    lines.close()
    starting, *printed = out.getvalue().splitlines()
    assert starting.startswith("starting:")
    assert [line.split("]")[0].strip("[ ") for line in printed] == [
        "0.0s",
        "5.0s",
        "10.0s",
        "11.0s",
    ]
    assert "staged 12 | applied 11 | lag 1" in printed[-1]
    assert "10,000 rows/s" in printed[-1] and "ETA" in printed[-1]


def test_the_finished_stream_is_printed_at_once():
    out = io.StringIO()
    lines = PlainLines(out, every_s=60)
    lines.show(_snapshot(0.0, staged=1, applied=0))
    lines.show(_snapshot(3.0, staged=3, applied=3, total=3))
    assert "staged 3/3 | applied 3 | lag 0" in out.getvalue().splitlines()[-1]


def test_the_live_panel_shows_chunks_pace_rows_detections_and_time():
    screen = io.StringIO()
    live = LiveDisplay(Console(file=screen, force_terminal=True, width=100))
    for second in range(3):
        live.show(_snapshot(float(second), staged=second + 1, applied=second))
    live.close()
    text = screen.getvalue()
    for shown in (
        "staged 3/~60",
        "applied 2/~60",
        "10,000 rows/s",
        "20,000 applied",
        "UPGRADE 2",
        "DEI-NEEDED 2",
        "elapsed",
        "ETA",
    ):
        assert shown in text, shown


def test_a_line_before_any_pace_is_known_still_says_where_the_stream_is():
    line = progress_line(_snapshot(0.5, staged=1, applied=0), Pace())
    assert "staged 1 | applied 0 | lag 1" in line and "rows/s" not in line
