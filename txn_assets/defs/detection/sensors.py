"""The new-chunk sensor: Mechanism Y's automation, decided from durable state on every tick.

Each tick reads the stream's status (state database) and the runs in flight and recently
finished (Dagster's run storage), and asks `stream_plan.decide` what to request: the weights
load first, then every staged chunk that is neither applied nor in a run in flight, as one range
run. A failed run's chunks are requested again by a later tick; a chunk that keeps failing is
reported in the tick's skip reason instead of being retried forever.
"""

import json
import time
from collections.abc import Iterable
from contextlib import ExitStack, closing
from typing import Any

import dagster as dg
import psycopg

from txn_assets.defs.detection.checks import chunk_check_job
from txn_assets.defs.detection.jobs import mechanism_y_job
from txn_assets.defs.partitions import (
    CHUNKS,
    PARTITION_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    chunk_partitions,
)
from txn_assets.defs.source.assets import customer_weights_job
from txn_assets.lib.chunks import chunk_index, chunk_key
from txn_assets.lib.stream_plan import RUN, Decision, FinishedRun, RunSpan, decide
from txn_assets.lib.stream_signal import ChunkStagedSignal
from txn_assets.lib.stream_status import StreamStatus, read_status
from txn_assets.resources.automation import AutomationResource
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.sources import SourceResource

IN_FLIGHT = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]
# Enough history to see a chunk fail MAX_FAILED_ATTEMPTS times among other runs.
RECENT_RUNS = 30
PATTERN_STATE = dg.AssetKey("pattern_state")
CUSTOMER_WEIGHTS = dg.AssetKey("customer_weights")


def run_span(run: dg.DagsterRun) -> RunSpan | None:
    """The chunks a run applies (a range or one partition of pattern_state), or None."""
    applies_chunks = run.job_name == mechanism_y_job.name or (
        run.asset_selection is not None and PATTERN_STATE in run.asset_selection
    )
    if not applies_chunks:
        return None
    start, end = run.tags.get(RANGE_START_TAG), run.tags.get(RANGE_END_TAG)
    if start is None or end is None:
        start = end = run.tags.get(PARTITION_TAG)
    if start is None or end is None:
        return None
    return RunSpan(chunk_index(start), chunk_index(end))


def loads_weights(run: dg.DagsterRun) -> bool:
    """Whether a run materialises customer_weights."""
    return run.job_name == customer_weights_job.name or (
        run.asset_selection is not None and CUSTOMER_WEIGHTS in run.asset_selection
    )


def run_error(instance: dg.DagsterInstance, run_id: str) -> str:
    """The message of a failed run's first step failure (or of the run failure itself)."""
    for event_type in (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE):
        for record in instance.all_logs(run_id, of_type=event_type):
            event = record.dagster_event
            data = event.event_specific_data if event else None
            error = getattr(data, "error", None)
            if error is not None:
                return error.message.strip().splitlines()[0]
            if record.message:
                return record.message
    return "(no error message recorded)"


def _finished(runs: Iterable[dg.DagsterRun]) -> list[FinishedRun]:
    found = []
    for run in runs:
        span = run_span(run)
        if span is not None or loads_weights(run):
            found.append(FinishedRun(run.run_id, span, run.status == dg.DagsterRunStatus.SUCCESS))
    return found


def evaluate(
    instance: dg.DagsterInstance, status: StreamStatus, importance_md5: str | None
) -> Decision:
    """The decision for this tick, from the status and the instance's runs."""
    in_flight = [r.dagster_run for r in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT))]
    recent = instance.get_run_records(dg.RunsFilter(statuses=FINISHED), limit=RECENT_RUNS)
    return decide(
        status,
        importance_md5,
        weights_in_flight=any(loads_weights(run) for run in in_flight),
        in_flight=[span for run in in_flight if (span := run_span(run)) is not None],
        recent=_finished(r.dagster_run for r in recent),
        error_of=lambda run_id: run_error(instance, run_id),
    )


def _reported_rejections(context: dg.SensorEvaluationContext) -> set[int]:
    return set(json.loads(context.cursor or "{}").get("reported_rejections", []))


def _rejection_reports(
    context: dg.SensorEvaluationContext, status: StreamStatus
) -> tuple[list[dg.RunRequest], str]:
    """A `chunk_accepted` check run for each rejected chunk not reported yet, and the new cursor.

    The cursor only remembers which rejections were reported; what Y applies never depends on it.
    """
    reported = _reported_rejections(context)
    new = [index for index in status.rejected if index not in reported]
    # The partition goes in as a tag: Dagster cannot resolve a partition key for a job made
    # of checks only, but it runs the check on the partition the tag names.
    requests = [
        dg.RunRequest(job_name=chunk_check_job.name, tags={PARTITION_TAG: chunk_key(index)})
        for index in new
    ]
    for index in new:
        context.log.warning("chunk %s was rejected: requested its chunk_accepted check", index)
    return requests, json.dumps({"reported_rejections": sorted(reported | set(new))})


def _look(
    instance: dg.DagsterInstance,
    conn: psycopg.Connection[Any],
    source: SourceResource,
    importance_md5: str | None,
) -> tuple[StreamStatus, str | None, Decision]:
    """The status, the current CustomerImportance md5 (once weights are loaded) and the decision.

    The md5 is read once per tick: a change stops the stream, and the next tick sees it."""
    status = read_status(conn)
    if status.weights_md5 and importance_md5 is None:
        importance_md5 = source.importance().identity().md5
    return status, importance_md5, evaluate(instance, status, importance_md5)


def _settled(decision: Decision, status: StreamStatus, context: dg.SensorEvaluationContext) -> bool:
    """Whether a tick has what it will request (or report) for now."""
    unreported = set(status.rejected) - _reported_rejections(context)
    return decision.waits_for is None or bool(unreported)


@dg.sensor(
    jobs=[mechanism_y_job, customer_weights_job, chunk_check_job],
    minimum_interval_seconds=1,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Mechanism Y's automation: loads the weights, then requests every staged chunk "
    "that is not applied and not in a run in flight, as one range run. Heals failed runs.",
)
def new_chunk_sensor(
    context: dg.SensorEvaluationContext,
    postgres: PostgresResource,
    source: SourceResource,
    automation: AutomationResource,
) -> dg.SensorResult | dg.SkipReason:
    """One tick: read the state, decide, request (what Y applies never depends on the cursor).

    With nothing to request yet but a run about to end or a chunk about to land, the tick looks
    again until it has something or `automation.look_again_seconds` pass (AutomationResource).
    """
    deadline = time.monotonic() + automation.look_again_seconds
    with ExitStack() as stack:
        conn = stack.enter_context(postgres.connect())
        status, importance_md5, decision = _look(context.instance, conn, source, None)
        if automation.look_again_seconds > 0 and not _settled(decision, status, context):
            # Listening first, then looking once more: a chunk staged in between is seen.
            staged = stack.enter_context(closing(ChunkStagedSignal(postgres.url)))
            while True:
                status, importance_md5, decision = _look(
                    context.instance, conn, source, importance_md5
                )
                left = deadline - time.monotonic()
                if _settled(decision, status, context) or left <= 0:
                    break
                # A staged chunk wakes the wait at once; a run's end is seen by polling.
                staged.wait(
                    min(automation.poll_seconds, left) if decision.waits_for == RUN else left
                )
    reports, cursor = _rejection_reports(context, status)
    if decision.load_weights:
        context.log.info(decision.reason)
        weights = dg.RunRequest(job_name=customer_weights_job.name)
        return dg.SensorResult(run_requests=[weights, *reports], cursor=cursor)
    if decision.chunks is None:
        if not reports:
            return dg.SkipReason(decision.reason)
        context.log.info(decision.reason)
        return dg.SensorResult(run_requests=reports, cursor=cursor)
    keys = [chunk_key(i) for i in decision.chunks]
    known = set(context.instance.get_dynamic_partitions(CHUNKS))
    missing = [k for k in keys if k not in known]
    context.log.info(decision.reason)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                job_name=mechanism_y_job.name,
                tags={RANGE_START_TAG: keys[0], RANGE_END_TAG: keys[-1]},
            ),
            *reports,
        ],
        dynamic_partitions_requests=[chunk_partitions.build_add_request(missing)]
        if missing
        else [],
        cursor=cursor,
    )
