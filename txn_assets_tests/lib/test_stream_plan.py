"""What Mechanism Y's automation requests, decided from durable state alone (no Dagster here)."""

from __future__ import annotations

from txn_assets.lib.stream_plan import CHUNK, RUN, Decision, FinishedRun, RunSpan, decide
from txn_assets.lib.stream_status import StreamStatus

ERRORS = {"r1": "boom 1", "r2": "boom 2", "r3": "boom 3", "w1": "no file", "w2": "no file"}


def _status(staged: int, applied: int, weights: str | None = "md5-a", total=None) -> StreamStatus:
    return StreamStatus(
        staged=staged,
        applied=applied,
        next_chunk=applied,
        detections=0,
        files=0,
        weights_md5=weights,
        total_chunks=total,
        oldest_pending_seconds=None,
        rejected=[],
    )


def _decide(status, importance="md5-a", weights_in_flight=False, in_flight=(), recent=()):
    return decide(
        status,
        importance,
        weights_in_flight,
        list(in_flight),
        list(recent),
        error_of=ERRORS.__getitem__,
        max_attempts=3,
    )


def test_weights_come_first_and_are_requested_once():
    assert _decide(_status(4, 0, weights=None)).load_weights
    waiting = _decide(_status(4, 0, weights=None), weights_in_flight=True)
    assert not waiting.load_weights and waiting.chunks is None
    assert "waiting for the customer_weights run" in waiting.reason


def test_a_weights_load_that_keeps_failing_is_reported():
    recent = [FinishedRun(f"w{i}", None, False) for i in (2, 1)] + [FinishedRun("x", None, False)]
    decision = _decide(_status(4, 0, weights=None), recent=recent)
    assert not decision.load_weights
    assert "failed in 3 runs in a row" in decision.reason and "no file" in decision.reason


def test_every_pending_chunk_is_requested_as_one_range():
    assert _decide(_status(staged=7, applied=2)).chunks == range(2, 7)


def test_while_a_y_run_is_in_flight_the_chunks_staged_since_wait_for_the_next_one():
    decision = _decide(_status(staged=7, applied=2), in_flight=[RunSpan(2, 4)])
    assert decision.chunks is None
    assert decision.reason == (
        "a Mechanism Y run is in flight (chunks 000002..000004); "
        "chunks 000005..000006 wait for the next run"
    )
    covered = _decide(_status(staged=7, applied=2), in_flight=[RunSpan(2, 6)])
    assert covered.chunks is None and covered.reason.endswith("(chunks 000002..000006)")
    # Once it has finished, the next run takes every chunk that waited, as one range.
    assert _decide(_status(staged=9, applied=5)).chunks == range(5, 9)


def test_a_failed_runs_chunks_are_requested_again():
    recent = [FinishedRun("r1", RunSpan(2, 4), succeeded=False)]
    assert _decide(_status(staged=5, applied=2), recent=recent).chunks == range(2, 5)


def test_three_failures_in_a_row_stop_the_requests_and_name_chunk_and_error():
    recent = [
        FinishedRun("r3", RunSpan(2, 6), False),
        FinishedRun("ok", RunSpan(0, 1), True),  # about other chunks: does not interrupt
        FinishedRun("r2", RunSpan(2, 5), False),
        FinishedRun("r1", RunSpan(2, 4), False),
    ]
    decision = _decide(_status(staged=7, applied=2), recent=recent)
    assert decision.chunks is None
    assert decision.reason.startswith("chunk 000002 failed in 3 runs in a row; last error: boom 3")


def test_a_success_in_between_resets_the_count():
    recent = [
        FinishedRun("r3", RunSpan(2, 6), False),
        FinishedRun("ok", RunSpan(2, 2), True),
        FinishedRun("r2", RunSpan(2, 5), False),
        FinishedRun("r1", RunSpan(2, 4), False),
    ]
    assert _decide(_status(staged=7, applied=2), recent=recent).chunks == range(2, 7)


def test_a_changed_importance_file_stops_the_stream_and_says_both_versions():
    decision = _decide(_status(staged=3, applied=1), importance="md5-b")
    assert decision == Decision(reason=decision.reason)
    assert "md5-a -> md5-b" in decision.reason and "refuses" in decision.reason


def test_nothing_pending_says_whether_the_stream_is_complete():
    assert "no staged chunk is waiting" in _decide(_status(3, 3)).reason
    assert "complete: all 3 chunks applied" in _decide(_status(3, 3, total=3)).reason


def test_only_a_decision_that_changes_by_itself_is_worth_looking_at_again():
    # What a run in flight or Mechanism X will change within seconds, a sensor tick waits for.
    assert _decide(_status(4, 0, weights=None), weights_in_flight=True).waits_for == RUN
    assert _decide(_status(7, 2), in_flight=[RunSpan(2, 4)]).waits_for == RUN
    assert _decide(_status(staged=2, applied=2)).waits_for == CHUNK
    # What needs someone to act, or is done, is not waited for; nor is a request.
    three_failures = [FinishedRun(f"r{i}", RunSpan(2, 2), False) for i in (3, 2, 1)]
    assert _decide(_status(4, 2), recent=three_failures).waits_for is None
    assert _decide(_status(4, 2), importance="md5-b").waits_for is None
    assert _decide(_status(staged=3, applied=3, total=3)).waits_for is None
    assert _decide(_status(staged=3, applied=1)).waits_for is None
