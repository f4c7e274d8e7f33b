"""The stream report as an asset, downstream of the detections (lib/report.py does the work)."""

import os
from pathlib import Path

import dagster as dg

from txn_assets.defs.catalog import OWNERS, REPORT_KINDS
from txn_assets.lib.report import REPORT_FILE_NAME, read_report, save_report
from txn_assets.resources.postgres import PostgresResource
from txn_assets.stack import home_from_env


def report_folder_from_env() -> Path:
    """TXN_REPORT_DIR, or HOME/report (TXN_HOME, which `txn-assets run|dev` set)."""
    given = os.environ.get("TXN_REPORT_DIR")
    return Path(given) if given else home_from_env() / "report"


class ReportConfig(dg.Config):
    """Launchpad settings of the report (empty: the environment's report folder)."""

    folder: str = ""

    def path(self) -> Path:
        """The report file: one per home, replaced by each new report."""
        return (Path(self.folder) if self.folder else report_folder_from_env()).resolve() / (
            REPORT_FILE_NAME
        )


@dg.asset(
    deps=["chunk_detections", "detection_files"],
    group_name="report",
    owners=OWNERS,
    kinds=REPORT_KINDS,
    description="One self-contained HTML file (plots embedded, opens offline): detections per "
    "chunk by pattern, top merchants, latency and rows per chunk, and every detection with its "
    "evidence. Written to TXN_REPORT_DIR, default HOME/report/stream-report.html.",
)
def stream_report(config: ReportConfig, postgres: PostgresResource) -> dg.MaterializeResult:
    """Write the report from the state database; the metadata links to it with the headline."""
    with postgres.connect() as conn:
        content = read_report(conn)
    path = save_report(content, config.path())
    s = content.summary
    metadata: dict[str, dg.RawMetadataValue] = {
        "path": dg.MetadataValue.path(str(path)),
        "url": dg.MetadataValue.url(path.as_uri()),
        "chunks": dg.MetadataValue.int(s.chunks),
        "rows": dg.MetadataValue.int(s.valid_rows),
        "quarantined_rows": dg.MetadataValue.int(s.quarantined_rows),
        "detections": dg.MetadataValue.int(sum(s.detections.values())),
        "detections_by_pattern": dg.MetadataValue.md(content.detections_markdown()),
        "detection_files": dg.MetadataValue.int(s.files),
    }
    if s.latency_p50 is not None and s.latency_p95 is not None:
        metadata["latency_p50_seconds"] = dg.MetadataValue.float(round(s.latency_p50, 3))
        metadata["latency_p95_seconds"] = dg.MetadataValue.float(round(s.latency_p95, 3))
    return dg.MaterializeResult(metadata=metadata)


stream_report_job = dg.define_asset_job(
    "stream_report_job",
    selection=[stream_report],
    description="Write the stream report (txn-assets run runs it at its end).",
)


def materialize_stream_report(instance: dg.DagsterInstance | None = None) -> Path:
    """Materialise `stream_report` with this environment's settings, recorded in the instance
    as a run of `stream_report_job` (what `txn-assets run` calls at its end); the report's path."""
    from txn_assets.definitions import defs

    config = ReportConfig()
    result = defs.resolve_job_def(stream_report_job.name).execute_in_process(
        instance=instance or dg.DagsterInstance.get(),
        run_config={
            "ops": {"stream_report": {"config": config.model_dump()}},
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
        },
    )
    assert result.success  # execute_in_process raises on failure
    return config.path()
