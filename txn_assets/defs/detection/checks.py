"""Asset checks that query what is stored and go red when it is wrong.

They are not part of Mechanism Y's runs (some read every detection file, which would make each
chunk dearer as the stream grows): `stream_checks_job` runs them, every minute from
`stream_checks_schedule`, at the end of `txn-assets run`, or from the UI (Execute checks).
"""

import dagster as dg

from txn_assets.defs.detection.assets import detection_files
from txn_assets.defs.partitions import chunk_partitions
from txn_assets.lib import settings
from txn_assets.lib.audits import (
    Audit,
    audit_chunk,
    audit_detection_files,
    audit_lag,
    audit_quarantine,
    audit_totals,
)
from txn_assets.lib.chunks import chunk_index
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.stores import StoreResource

PATTERN_STATE = dg.AssetKey("pattern_state")


def _result(audit: Audit, severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR):
    metadata: dict[str, object] = dict(audit.figures)
    if audit.problems:
        metadata["problems"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in audit.problems))
    return dg.AssetCheckResult(
        passed=audit.passed,
        severity=severity,
        description=audit.problems[0] if audit.problems else None,
        metadata=metadata,  # type: ignore[arg-type]
    )


class FileCheckConfig(dg.Config):
    """A file may lag its last detection's chunk by this much (Y writes files after applying)."""

    grace_seconds: float = 60.0


@dg.asset_check(
    asset=detection_files,
    description="Detection files cover detection seq 0..n-1 exactly once, their bytes in the "
    "store match the recorded md5 and the stored detections, and no due file is missing.",
)
def detection_files_complete(
    config: FileCheckConfig, postgres: PostgresResource, stores: StoreResource
) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        audit = audit_detection_files(
            conn, stores.output(), stores.output_prefix, config.grace_seconds
        )
    return _result(audit)


@dg.asset_check(
    asset=PATTERN_STATE,
    description="Merchant totals equal the valid rows of the applied chunks and the sum of "
    "their customers' counts.",
)
def merchant_totals_match(postgres: PostgresResource) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        return _result(audit_totals(conn))


class LagCheckConfig(dg.Config):
    """How long a staged chunk may wait before the check goes red (Y stalled or behind)."""

    max_lag_seconds: float = settings.MAX_APPLY_LAG_SECONDS


@dg.asset_check(
    asset=PATTERN_STATE,
    description="Every staged chunk is applied within max_lag_seconds of being staged.",
)
def chunks_applied_within_lag(
    config: LagCheckConfig, postgres: PostgresResource
) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        return _result(audit_lag(conn, config.max_lag_seconds))


class QuarantineCheckConfig(dg.Config):
    """Warn above this share of quarantined rows."""

    max_share: float = settings.QUARANTINE_WARN_SHARE


@dg.asset_check(
    asset=PATTERN_STATE,
    description="Warns when more than max_share of the stream's rows were quarantined.",
)
def quarantine_share(
    config: QuarantineCheckConfig, postgres: PostgresResource
) -> dg.AssetCheckResult:
    with postgres.connect() as conn:
        return _result(audit_quarantine(conn, config.max_share), dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset=PATTERN_STATE,
    partitions_def=chunk_partitions,
    description="The chunk was applied; red with the reason when it was rejected as a whole "
    "(unreadable, changed since staging, no header). The sensor runs it for every rejected chunk.",
)
def chunk_accepted(
    context: dg.AssetCheckExecutionContext, postgres: PostgresResource
) -> dg.AssetCheckResult:
    """One chunk's audit; in a range run (a backfill of the UI) one result for the range."""
    with postgres.connect() as conn:
        audits = [audit_chunk(conn, chunk_index(key)) for key in sorted(context.partition_keys)]
    if len(audits) == 1:
        return _result(audits[0])
    return _result(
        Audit(
            problems=[problem for audit in audits for problem in audit.problems],
            figures={
                "chunks": len(audits),
                "rejected_or_missing": sum(not audit.passed for audit in audits),
            },
        )
    )


# Runs one chunk's check: Dagster records a partitioned check per partition only in a run of
# that one partition, so it is not part of Mechanism Y's range runs.
chunk_check_job = dg.define_asset_job(
    "chunk_check_job",
    selection=dg.AssetSelection.checks(chunk_accepted),
    partitions_def=chunk_partitions,
    executor_def=dg.in_process_executor,
    description="Check that one chunk was accepted (requested for every rejected chunk).",
)

STREAM_CHECKS = [
    detection_files_complete,
    merchant_totals_match,
    chunks_applied_within_lag,
    quarantine_share,
]

stream_checks_job = dg.define_asset_job(
    "stream_checks_job",
    selection=dg.AssetSelection.checks(*STREAM_CHECKS),
    executor_def=dg.in_process_executor,
    description="Audit the stream: detection files, totals, lag and quarantine share.",
)

stream_checks_schedule = dg.ScheduleDefinition(
    name="stream_checks_schedule",
    job=stream_checks_job,
    cron_schedule="* * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Runs the stream's asset checks every minute, so a stalled Y turns the lag check red.",
)
