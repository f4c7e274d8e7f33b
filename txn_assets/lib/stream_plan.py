"""What Mechanism Y's automation should request next, decided from durable state alone.

The inputs are the stream's status (the state database), the runs in flight and the recent
finished runs (Dagster's run storage); nothing depends on what an earlier tick requested. So a
failed or killed run leaves its chunks pending with no run in flight, and a tick requests them
again, until they fail the same way `max_attempts` times in a row: then they are reported, not
retried forever.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from txn_assets.lib import settings
from txn_assets.lib.chunks import chunk_key
from txn_assets.lib.stream_status import StreamStatus


@dataclass(frozen=True)
class RunSpan:
    """The chunks a run asked for, first to last inclusive."""

    first: int
    last: int

    def covers(self, index: int) -> bool:
        return self.first <= index <= self.last


@dataclass(frozen=True)
class FinishedRun:
    """A finished run that loaded the weights (span None) or applied chunks."""

    run_id: str
    span: RunSpan | None
    succeeded: bool


@dataclass(frozen=True)
class Decision:
    """Request the weights load, or one range run of chunks, or nothing and say why.

    `waits_for`: nothing to request yet, but that can change within seconds without anyone
    acting: when a run in flight ends (RUN) or Mechanism X stages a chunk (CHUNK).
    """

    load_weights: bool = False
    chunks: range | None = None
    reason: str = ""
    waits_for: str | None = None


RUN, CHUNK = "run", "chunk"


def _keys(chunks: range) -> str:
    first, last = chunk_key(chunks[0]), chunk_key(chunks[-1])
    return first if first == last else f"{first}..{last}"


def _failures_in_a_row(
    recent: Sequence[FinishedRun], concerns: Callable[[FinishedRun], bool]
) -> list[FinishedRun]:
    """The newest runs that concern something, up to the first success among them."""
    failed = []
    for run in recent:  # newest first
        if not concerns(run):
            continue
        if run.succeeded:
            break
        failed.append(run)
    return failed


def decide(
    status: StreamStatus,
    importance_md5: str | None,
    weights_in_flight: bool,
    in_flight: Sequence[RunSpan],
    recent: Sequence[FinishedRun],
    error_of: Callable[[str], str],
    max_attempts: int = settings.MAX_FAILED_ATTEMPTS,
) -> Decision:
    """The next request of Mechanism Y's automation.

    `importance_md5` is the CustomerImportance file as the source holds it now; `recent` lists
    finished runs newest first; `error_of(run_id)` gives a failed run's error message.
    """
    if status.weights_md5 is None:
        if weights_in_flight:
            return Decision(
                reason="waiting for the customer_weights run to load CustomerImportance",
                waits_for=RUN,
            )
        failed = _failures_in_a_row(recent, lambda run: run.span is None)
        if len(failed) >= max_attempts:
            return Decision(
                reason=f"loading CustomerImportance failed in {len(failed)} runs in a row; "
                f"last error: {error_of(failed[0].run_id)}. Not requested again until "
                "customer_weights is materialised by hand."
            )
        return Decision(
            load_weights=True,
            reason="CustomerImportance is not loaded yet: requested customer_weights first",
        )
    if importance_md5 is not None and importance_md5 != status.weights_md5:
        return Decision(
            reason=f"importance_file changed (md5 {status.weights_md5} -> {importance_md5}) after "
            "this stream loaded its weights: the stream refuses to judge chunks with two "
            "versions. Restore the file, or start a new stream on a fresh state database."
        )
    if in_flight:
        # One Y run at a time: chunks staged meanwhile wait for the next run, which takes them
        # all. A run's cost is mostly fixed (a process, imports, a Spark session), so runs of a
        # few chunks queued behind each other would fall further behind at 1 chunk/s.
        spans = ", ".join(_keys(range(span.first, span.last + 1)) for span in in_flight)
        waiting = [i for i in status.pending if not any(span.covers(i) for span in in_flight)]
        return Decision(
            reason=f"a Mechanism Y run is in flight (chunks {spans})"
            + (
                f"; chunks {_keys(range(waiting[0], waiting[-1] + 1))} wait for the next run"
                if waiting
                else ""
            ),
            waits_for=RUN,
        )
    chunks = status.pending
    if not chunks:
        if status.finished:
            return Decision(reason=f"the stream is complete: all {status.applied} chunks applied")
        return Decision(
            reason=f"no staged chunk is waiting ({status.applied} applied)", waits_for=CHUNK
        )
    first = chunks[0]
    failed = _failures_in_a_row(recent, lambda run: run.span is not None and run.span.covers(first))
    if len(failed) >= max_attempts:
        return Decision(
            reason=f"chunk {chunk_key(first)} failed in {len(failed)} runs in a row; last error: "
            f"{error_of(failed[0].run_id)}. Later chunks wait behind it; materialise "
            f"pattern_state {chunk_key(first)} by hand once the cause is fixed."
        )
    return Decision(chunks=chunks, reason=f"requested chunks {_keys(chunks)}")
