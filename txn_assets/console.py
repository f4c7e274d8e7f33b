"""What `txn-assets run` shows while the stream runs: a live display on a terminal, plain
periodic lines otherwise (CI logs, pipes), and the same figures in both."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from txn_assets.lib.stream_status import StreamStatus
from txn_assets.lib.stream_summary import ProgressFigures

# Throughput and ETA come from the last few seconds, so they follow the stream's current pace.
RATE_WINDOW_SECONDS = 10.0
# Without a terminal, one line this often (and one at the end) keeps a log readable.
PLAIN_EVERY_SECONDS = 5.0
STARTING = "starting: Spark, PostgreSQL and the weights ..."
# The line that says when the stream became ready (`make bench` reads its start-up from it).
READY_PREFIX = "ready after "
# How `run`'s summary begins: "done in 49.8s: …", counted from the process's start.
DONE_PREFIX = "done in "


@dataclass(frozen=True)
class Snapshot:
    """The stream at one moment of the display."""

    status: StreamStatus
    figures: ProgressFigures
    elapsed: float


class Pace:
    """Rows per second and the time left, from the snapshots of the last RATE_WINDOW_SECONDS."""

    def __init__(self) -> None:
        self._seen: deque[Snapshot] = deque()

    def add(self, snapshot: Snapshot) -> None:
        self._seen.append(snapshot)
        while (
            snapshot.elapsed - self._seen[0].elapsed > RATE_WINDOW_SECONDS and len(self._seen) > 2
        ):
            self._seen.popleft()

    def rows_per_second(self) -> float | None:
        if len(self._seen) < 2:
            return None
        first, last = self._seen[0], self._seen[-1]
        seconds = last.elapsed - first.elapsed
        rows = last.figures.rows_applied - first.figures.rows_applied
        return rows / seconds if seconds > 0 else None

    def seconds_left(self) -> float | None:
        """Chunks still to apply (of the expected total) over the recent chunks per second."""
        if len(self._seen) < 2:
            return None
        first, last = self._seen[0], self._seen[-1]
        expected = last.status.total_chunks or last.figures.expected_chunks(last.status.staged)
        applied = last.status.applied - first.status.applied
        seconds = last.elapsed - first.elapsed
        if expected is None or applied <= 0 or seconds <= 0:
            return None
        return max(0, expected - last.status.applied) * seconds / applied


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _total(status: StreamStatus, figures: ProgressFigures) -> str:
    if status.total_chunks is not None:
        return str(status.total_chunks)
    expected = figures.expected_chunks(status.staged)
    return f"~{expected}" if expected is not None else "?"


def progress_line(snapshot: Snapshot, pace: Pace) -> str:
    """One plain line of progress: how far X and Y are, the pace and the time left."""
    status, figures = snapshot.status, snapshot.figures
    total = f"/{status.total_chunks}" if status.total_chunks is not None else ""
    rate = pace.rows_per_second()
    detections = " ".join(f"{name} {n}" for name, n in figures.detections.items())
    line = (
        f"[{snapshot.elapsed:6.1f}s] staged {status.staged}{total} | applied {status.applied} | "
        f"lag {status.lag} | detections {status.detections} ({detections}) | files {status.files}"
    )
    if rate is None:  # the pace needs two snapshots
        return line
    return f"{line} | {rate:,.0f} rows/s | ETA {_duration(pace.seconds_left())}"


class StreamDisplay(Protocol):
    """Where the runner's snapshots go."""

    def show(self, snapshot: Snapshot) -> None: ...

    def note(self, text: str) -> None:
        """A line of its own, above the progress (e.g. the stream becoming ready)."""

    def close(self) -> None: ...


class PlainLines:
    """A line at the first snapshot, then at most one per PLAIN_EVERY_SECONDS, and the last one."""

    def __init__(self, out: TextIO, every_s: float = PLAIN_EVERY_SECONDS) -> None:
        self.out, self.every_s = out, every_s
        self.pace = Pace()
        self._printed_at: float | None = None
        self._pending: Snapshot | None = None
        print(STARTING, file=out, flush=True)

    def show(self, snapshot: Snapshot) -> None:
        self.pace.add(snapshot)
        self._pending = snapshot
        due = self._printed_at is None or snapshot.elapsed - self._printed_at >= self.every_s
        if due or snapshot.status.finished:
            self._print(snapshot)

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _print(self, snapshot: Snapshot) -> None:
        print(progress_line(snapshot, self.pace), file=self.out, flush=True)
        self._printed_at, self._pending = snapshot.elapsed, None

    def close(self) -> None:
        if self._pending is not None:  # the last state always reaches the log
            self._print(self._pending)


class LiveDisplay:
    """A live panel on the terminal, redrawn a few times a second (elapsed and ETA tick)."""

    def __init__(self, console: Console) -> None:
        self.pace = Pace()
        self._last: Snapshot | None = None
        self._shown_at = time.monotonic()
        self._live = Live(self, console=console, refresh_per_second=4, transient=False)
        self._live.start()

    def show(self, snapshot: Snapshot) -> None:
        self.pace.add(snapshot)
        self._last, self._shown_at = snapshot, time.monotonic()
        self._live.refresh()

    def note(self, text: str) -> None:
        self._live.console.print(text)

    def close(self) -> None:
        self._live.stop()

    def __rich__(self) -> Group:
        if self._last is None:
            return Group(Text(STARTING, style="dim"))
        snapshot = self._last
        status, figures = snapshot.status, snapshot.figures
        elapsed = snapshot.elapsed + (time.monotonic() - self._shown_at)
        total = _total(status, figures)
        rate = self.pace.rows_per_second()
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        table.add_row(
            "chunks", f"staged {status.staged}/{total}   applied {status.applied}/{total}"
        )
        table.add_row(
            "pace",
            f"{rate:,.0f} rows/s   lag {status.lag} chunks" if rate else f"lag {status.lag} chunks",
        )
        table.add_row(
            "rows",
            f"{figures.rows_applied:,} applied   {figures.rows_quarantined:,} quarantined",
        )
        table.add_row(
            "detections",
            "   ".join(f"{name} {n:,}" for name, n in figures.detections.items())
            + f"   files {status.files}",
        )
        table.add_row(
            "time", f"elapsed {_duration(elapsed)}   ETA {_duration(self.pace.seconds_left())}"
        )
        return Group(table)


def stream_display(out: TextIO) -> StreamDisplay:
    """The live panel when `out` is a terminal, plain periodic lines otherwise."""
    if out.isatty():
        return LiveDisplay(Console(file=out))
    return PlainLines(out)
