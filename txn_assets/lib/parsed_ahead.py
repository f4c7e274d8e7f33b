"""The reference file parsed ahead: `txn-assets run` parses CustomerImportance while it starts.

The weights load is the first thing Mechanism Y needs, and on a new JVM its Spark action is the
slowest of the stream (most of it is the JVM compiling Spark's code). `run` knows the file
before Dagster has even loaded, so its Spark warm-up parses it at once and keeps the summary
here, under the md5 of the exact bytes it parsed. The weights load then takes that summary when
its own file has the same md5, waiting for a parse still under way rather than running a second
one beside it; any other file, or a failed parse ahead, is parsed by the load as always.

`dev` parses ahead the same way through its Spark Connect server, but the weights load runs in
a Dagster run's own process: there the parse is handed over through a folder (the home's
scratch folder). While it runs, a marker names the parsing process; the summary is then written
as an Arrow file (its pairs as parsed, exact decimals included; header and bad rows in its
metadata) and the marker removed. A load waits while the marker's process lives.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyarrow as pa
from pyspark.sql import SparkSession

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.csv_header import HeaderError, importance_layout, read_first_line
from txn_assets.lib.spark_parsing import FileSummary, collect_summaries

# A load never waits longer than this for a parse ahead (it then parses the file itself).
WAIT_SECONDS = 600.0
HANDOVER_PREFIX = "parsed-importance-"
_HEADER, _BAD_ROWS = b"txn-assets.header", b"txn-assets.bad-rows"


def handover_paths(folder: Path, md5: str) -> tuple[Path, Path]:
    """The summary handed over through `folder`, and the marker of a parse under way."""
    return folder / f"{HANDOVER_PREFIX}{md5}.arrow", folder / f"{HANDOVER_PREFIX}{md5}.parsing"


@dataclass
class ImportanceParse:
    """A parse announced: loads of a file with this md5 wait for it."""

    copy: Path  # the bytes Spark reads, private to this parse
    md5: str
    scratch: tempfile.TemporaryDirectory[str]
    done: threading.Event = field(default_factory=threading.Event)
    summary: FileSummary | None = None
    handover: Path | None = None  # a folder: the summary is handed to other processes there

    def run(self, spark: Callable[[], SparkSession]) -> None:
        """Parse the copy (`spark` may still be starting the session); done, whatever happens.

        A file whose header lacks a column is left to the load, which says so.
        """
        marker = handover_paths(self.handover, self.md5)[1] if self.handover else None
        try:
            layout = importance_layout(read_first_line(self.copy), what=self.copy.name)
            summaries = collect_summaries(spark(), [str(self.copy)], layout, "importance")
            self.summary = summaries.get(self.copy.name, FileSummary.empty("importance"))
            if self.handover is not None:
                self._hand_over(self.handover, self.summary)
        except HeaderError:
            pass
        except Exception:  # the load parses the file itself and reports what goes wrong
            logging.getLogger(__name__).warning("parsing %s ahead failed", self.copy, exc_info=True)
        finally:
            if marker is not None:
                marker.unlink(missing_ok=True)
            self.done.set()
            self.scratch.cleanup()

    def _hand_over(self, folder: Path, summary: FileSummary) -> None:
        """Write the summary for other processes, and keep no copy (65k pairs) in this one."""
        try:
            _write_handover(folder, self.md5, summary)
            self.summary = None
        except (OSError, pa.ArrowException):  # this process's loads still have it
            logging.getLogger(__name__).warning("handing over %s failed", self.md5, exc_info=True)
            self.handover = None


def _write_handover(folder: Path, md5: str, summary: FileSummary) -> None:
    """The summary as an Arrow file, complete or absent (written aside, then renamed)."""
    final = handover_paths(folder, md5)[0]
    partial = final.with_suffix(".arrow.part")
    metadata = {_HEADER: json.dumps(summary.header), _BAD_ROWS: json.dumps(summary.bad_rows)}
    table = summary.aggregates.replace_schema_metadata(metadata)
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    os.replace(partial, final)


def _read_handover(path: Path) -> FileSummary:
    with pa.OSFile(str(path)) as source:  # read into memory: the file is removed next
        table = pa.ipc.open_file(source).read_all()
    metadata = table.schema.metadata or {}
    bad_rows = [(int(p), str(r)) for p, r in json.loads(metadata[_BAD_ROWS])]
    return FileSummary(json.loads(metadata[_HEADER]), table.replace_schema_metadata(), bad_rows)


_parses: dict[str, ImportanceParse] = {}
_lock = threading.Lock()


def announce_importance(
    path: Path, scratch_root: Path | None = None, hand_over: bool = False
) -> ImportanceParse | None:
    """Copy a CustomerImportance file and announce its parse (None if unreadable or announced).

    From now on a load of a file with the same md5 waits for this parse (`run` it next). The
    copy is what Spark reads, so the md5 is that of the bytes parsed even if the file changes.
    It lives in a temporary folder under `scratch_root` (default: the machine's temp folder).
    `hand_over`: loads in other processes wait for it too, through `scratch_root`.
    """
    if scratch_root is not None:
        scratch_root.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.TemporaryDirectory(prefix="txn-parse-ahead-", dir=scratch_root)
    copy = Path(scratch.name) / path.name
    try:
        shutil.copyfile(path, copy)
    except OSError:  # gone or unreadable: the load says so
        scratch.cleanup()
        return None
    parse = ImportanceParse(copy, md5_file(copy), scratch)
    with _lock:
        if parse.md5 in _parses:
            scratch.cleanup()
            return None
        _parses[parse.md5] = parse
    if hand_over and scratch_root is not None:
        parse.handover = scratch_root
        handover_paths(scratch_root, parse.md5)[1].write_text(str(os.getpid()))
    return parse


def take_importance(
    md5: str, wait_seconds: float = WAIT_SECONDS, handed_over_in: Path | None = None
) -> FileSummary | None:
    """The summary parsed ahead for a file with this md5 (waiting for it if under way), once.

    Looks in this process first, then in the folder `handed_over_in` (another process's parse).
    Taken means forgotten: a later load (the same file loaded again after a reset) parses anew.
    """
    with _lock:
        parse = _parses.get(md5)
    if parse is None:
        return _take_handed_over(handed_over_in, md5, wait_seconds) if handed_over_in else None
    if not parse.done.wait(wait_seconds):
        return None
    with _lock:
        _parses.pop(md5, None)
    if parse.handover is not None:  # handed over: taken from the folder, like another process
        return _take_handed_over(parse.handover, md5, 0)
    return parse.summary


def _take_handed_over(folder: Path, md5: str, wait_seconds: float) -> FileSummary | None:
    summary_file, marker = handover_paths(folder, md5)
    deadline = time.monotonic() + wait_seconds
    while _parsing(marker) and time.monotonic() < deadline:
        if summary_file.exists():
            break
        time.sleep(0.1)
    try:  # the summary is complete once it has its name (or another load took it)
        summary = _read_handover(summary_file)
        summary_file.unlink(missing_ok=True)
    except FileNotFoundError:
        return None
    return summary


def _parsing(marker: Path) -> bool:
    """Whether the process a marker names still runs (a killed `dev` leaves its marker)."""
    try:
        return psutil.pid_exists(int(marker.read_text()))
    except (FileNotFoundError, ValueError):
        return False
