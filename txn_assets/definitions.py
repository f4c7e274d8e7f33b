"""The code location: assembles the domains' definitions; nothing else lives here."""

import dagster as dg

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.detection.checks import (
    STREAM_CHECKS,
    chunk_accepted,
    chunk_check_job,
    stream_checks_job,
    stream_checks_schedule,
)
from txn_assets.defs.detection.jobs import mechanism_y_job
from txn_assets.defs.detection.sensors import new_chunk_sensor
from txn_assets.defs.ingestion.assets import staged_chunk
from txn_assets.defs.ingestion.jobs import mechanism_x_job
from txn_assets.defs.report.assets import stream_report, stream_report_job
from txn_assets.defs.resources import resources_from_env
from txn_assets.defs.source.assets import (
    customer_weights,
    customer_weights_job,
    importance_file,
    transactions_file,
)

ASSETS: list[dg.AssetsDefinition | dg.SourceAsset] = [
    transactions_file,
    importance_file,
    customer_weights,
    staged_chunk,
    apply_chunks,
    detection_files,
    stream_report,
]

defs = dg.Definitions(
    assets=ASSETS,
    asset_checks=[*STREAM_CHECKS, chunk_accepted],
    jobs=[
        mechanism_x_job,
        mechanism_y_job,
        customer_weights_job,
        stream_checks_job,
        chunk_check_job,
        stream_report_job,
    ],
    sensors=[new_chunk_sensor],
    schedules=[stream_checks_schedule],
    resources=resources_from_env(),
    # Every run (backfills and UI materialisations included) executes its steps in one process:
    # a step per subprocess would cost seconds of Python start-up each.
    executor=dg.in_process_executor,
)
