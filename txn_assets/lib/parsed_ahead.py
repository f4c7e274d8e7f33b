"""The reference file parsed ahead: `txn-assets run` parses CustomerImportance while it starts.

The weights load is the first thing Mechanism Y needs, and on a new JVM its Spark action is the
slowest of the stream (most of it is the JVM compiling Spark's code). `run` knows the file
before Dagster has even loaded, so its Spark warm-up parses it at once and keeps the summary
here, under the md5 of the exact bytes it parsed. The weights load then takes that summary when
its own file has the same md5, waiting for a parse still under way rather than running a second
one beside it; any other file, or a failed parse ahead, is parsed by the load as always.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pyspark.sql import SparkSession

from txn_assets.lib.checksums import md5_file
from txn_assets.lib.csv_header import HeaderError, importance_layout, read_first_line
from txn_assets.lib.spark_parsing import FileSummary, collect_summaries

# A load never waits longer than this for a parse ahead (it then parses the file itself).
WAIT_SECONDS = 600.0


@dataclass
class ImportanceParse:
    """A parse announced: loads of a file with this md5 wait for it."""

    copy: Path  # the bytes Spark reads, private to this parse
    md5: str
    scratch: tempfile.TemporaryDirectory[str]
    done: threading.Event = field(default_factory=threading.Event)
    summary: FileSummary | None = None

    def run(self, spark: Callable[[], SparkSession]) -> None:
        """Parse the copy (`spark` may still be starting the session); done, whatever happens.

        A file whose header lacks a column is left to the load, which says so.
        """
        try:
            layout = importance_layout(read_first_line(self.copy), what=self.copy.name)
            summaries = collect_summaries(spark(), [str(self.copy)], layout, "importance")
            self.summary = summaries.get(self.copy.name, FileSummary(None, [], []))
        except HeaderError:
            pass
        except Exception:  # the load parses the file itself and reports what goes wrong
            logging.getLogger(__name__).warning("parsing %s ahead failed", self.copy, exc_info=True)
        finally:
            self.done.set()
            self.scratch.cleanup()


_parses: dict[str, ImportanceParse] = {}
_lock = threading.Lock()


def announce_importance(path: Path, scratch_root: Path | None = None) -> ImportanceParse | None:
    """Copy a CustomerImportance file and announce its parse (None if unreadable or announced).

    From now on a load of a file with the same md5 waits for this parse (`run` it next). The
    copy is what Spark reads, so the md5 is that of the bytes parsed even if the file changes.
    It lives in a temporary folder under `scratch_root` (default: the machine's temp folder).
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
    return parse


def take_importance(md5: str, wait_seconds: float = WAIT_SECONDS) -> FileSummary | None:
    """The summary parsed ahead for a file with this md5 (waiting for it if under way), once.

    Taken means forgotten: a later load (the same file loaded again after a reset) parses anew.
    """
    with _lock:
        parse = _parses.get(md5)
    if parse is None or not parse.done.wait(wait_seconds):
        return None
    with _lock:
        _parses.pop(md5, None)
    return parse.summary
