"""The new-chunk sensor, evaluated against a real instance, a real state database and store."""

import threading
import time

import dagster as dg
import pydantic
import pytest

from txn_assets.defs.detection.sensors import new_chunk_sensor
from txn_assets.defs.partitions import RANGE_END_TAG, RANGE_START_TAG
from txn_assets.resources.automation import AutomationResource
from txn_assets_tests.defs.conftest import load_weights_asset, stage_chunks


def _tick(instance, resources, automation: AutomationResource | None = None):
    context = dg.build_sensor_context(
        instance=instance,
        resources={
            "postgres": resources["postgres"],
            "source": resources["source"],
            "automation": automation or resources["automation"],
        },
    )
    return new_chunk_sensor(context)


def _after(seconds: float, action) -> threading.Thread:
    thread = threading.Timer(seconds, action)
    thread.start()
    return thread


def _range(request: dg.RunRequest) -> tuple[str, str]:
    return request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]


def _chunk_run(instance, first: str, last: str, status: dg.DagsterRunStatus) -> dg.DagsterRun:
    """A Mechanism Y run over first..last in the given state, as the daemon would record it."""
    run = instance.add_run(
        dg.DagsterRun(
            job_name="mechanism_y_job",
            tags={RANGE_START_TAG: first, RANGE_END_TAG: last},
            status=status,
        )
    )
    return run


def _fail(instance, run: dg.DagsterRun, message: str) -> None:
    instance.report_run_failed(run, message=message)


def test_before_the_weights_are_loaded_it_requests_the_weights_run_first(instance, resources):
    stage_chunks(resources, 2)
    result = _tick(instance, resources)
    assert isinstance(result, dg.SensorResult)
    (request,) = result.run_requests
    assert request.job_name == "customer_weights_job"


def test_staged_chunks_become_one_range_run_and_new_partitions(instance, resources):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 3)
    result = _tick(instance, resources)
    (request,) = result.run_requests
    assert request.job_name == "mechanism_y_job"
    assert _range(request) == ("000000", "000002")
    (add,) = result.dynamic_partitions_requests
    assert list(add.partition_keys) == ["000000", "000001", "000002"]


def test_nothing_staged_is_a_skip_that_says_so(instance, resources):
    load_weights_asset(instance, resources)
    result = _tick(instance, resources)
    assert isinstance(result, dg.SkipReason)
    assert "no staged chunk is waiting" in result.skip_message


def test_one_y_run_at_a_time_and_the_next_takes_every_chunk_that_waited(instance, resources):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 5)
    # NOT_STARTED: created, not yet launched (queued runs also need a code location origin).
    run = _chunk_run(instance, "000000", "000002", dg.DagsterRunStatus.NOT_STARTED)
    skipped = _tick(instance, resources)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == (
        "a Mechanism Y run is in flight (chunks 000000..000002); "
        "chunks 000003..000004 wait for the next run"
    )
    instance.report_run_failed(run)  # finished (here: failed): nothing is in flight any more
    (request,) = _tick(instance, resources).run_requests
    assert _range(request) == ("000000", "000004")


def test_a_failed_runs_chunks_are_requested_again_by_the_next_tick(instance, resources):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 3)
    run = _chunk_run(instance, "000000", "000002", dg.DagsterRunStatus.STARTED)
    assert isinstance(_tick(instance, resources), dg.SkipReason)
    _fail(instance, run, "the run worker was killed")
    (request,) = _tick(instance, resources).run_requests
    assert _range(request) == ("000000", "000002")


def test_a_chunk_that_keeps_failing_is_reported_not_retried_forever(instance, resources):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 2)
    for attempt in range(3):
        run = _chunk_run(instance, "000000", "000001", dg.DagsterRunStatus.STARTED)
        _fail(instance, run, f"disk full (attempt {attempt})")
    skipped = _tick(instance, resources)
    assert isinstance(skipped, dg.SkipReason)
    assert "chunk 000000 failed in 3 runs in a row" in skipped.skip_message
    assert "disk full (attempt 2)" in skipped.skip_message
    # A success for the chunk (say, a rerun by hand after the fix) resets the count.
    _chunk_run(instance, "000000", "000000", dg.DagsterRunStatus.SUCCESS)
    (request,) = _tick(instance, resources).run_requests
    assert _range(request) == ("000000", "000001")


def test_a_changed_importance_file_stops_the_stream_with_a_clear_reason(
    instance, resources, source_files
):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 1)
    with source_files.importance.open("a") as handle:
        handle.write("'C1','M1',1.00,'es_food',0\n")
    skipped = _tick(instance, resources)
    assert isinstance(skipped, dg.SkipReason)
    assert "importance_file changed" in skipped.skip_message
    assert "refuses" in skipped.skip_message


@pytest.mark.parametrize("status", [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTED])
def test_a_weights_run_in_flight_is_waited_for(instance, resources, status):
    stage_chunks(resources, 1)
    instance.add_run(dg.DagsterRun(job_name="customer_weights_job", status=status))
    skipped = _tick(instance, resources)
    assert isinstance(skipped, dg.SkipReason)
    assert "waiting for the customer_weights run" in skipped.skip_message


# The daemon evaluates sensors in a fixed 5 s loop: a tick with nothing to request yet looks
# again within its time instead of leaving a chunk to the next tick.


def test_a_tick_with_a_run_in_flight_requests_the_waiting_chunks_as_soon_as_it_ends(
    instance, resources
):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 3)
    run = _chunk_run(instance, "000000", "000000", dg.DagsterRunStatus.STARTED)
    ended = _after(1.0, lambda: _fail(instance, run, "ended while the tick looked again"))

    started = time.monotonic()
    result = _tick(
        instance, resources, AutomationResource(look_again_seconds=4.5, poll_seconds=0.1)
    )
    took = time.monotonic() - started
    ended.join()

    (request,) = result.run_requests
    assert _range(request) == ("000000", "000002")
    assert 1.0 <= took < 4.0, f"the tick took {took:.1f}s: it did not wait, or waited it out"


def test_a_tick_waiting_for_a_chunk_is_woken_by_its_staging_not_by_polling(instance, resources):
    load_weights_asset(instance, resources)
    staging = _after(1.0, lambda: stage_chunks(resources, 1))

    started = time.monotonic()
    # Waiting for a chunk does not poll: only X's notification can end the wait before 4.5 s.
    patient = AutomationResource(look_again_seconds=4.5)
    result = _tick(instance, resources, patient)
    took = time.monotonic() - started
    staging.join()

    (request,) = result.run_requests
    assert _range(request) == ("000000", "000000")
    assert 1.0 <= took < 4.0, f"the tick took {took:.1f}s: it did not wait, or waited it out"


def test_a_tick_that_cannot_change_soon_does_not_look_again(instance, resources, source_files):
    load_weights_asset(instance, resources)
    stage_chunks(resources, 1)
    with source_files.importance.open("a") as handle:
        handle.write("'C1','M1',1.00,'es_food',0\n")

    started = time.monotonic()
    skipped = _tick(instance, resources, AutomationResource(look_again_seconds=4.5))
    assert isinstance(skipped, dg.SkipReason) and "importance_file changed" in skipped.skip_message
    assert time.monotonic() - started < 3.0


def test_a_tick_cannot_look_again_past_the_daemons_loop():
    with pytest.raises(pydantic.ValidationError, match=r"less than or equal to 4\.5"):
        AutomationResource(look_again_seconds=6)


def test_a_tick_with_nothing_coming_skips_after_looking_again_for_its_time(instance, resources):
    load_weights_asset(instance, resources)
    started = time.monotonic()
    skipped = _tick(instance, resources, AutomationResource(look_again_seconds=1.5))
    assert isinstance(skipped, dg.SkipReason) and "no staged chunk" in skipped.skip_message
    assert 1.5 <= time.monotonic() - started < 4.5
