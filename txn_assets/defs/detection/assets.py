"""Mechanism Y: fold staged chunks into PostgreSQL state, emit detections, write detection files.

Runs cover a range of chunks (BackfillPolicy.single_run). The bodies only call the core
(`apply_staged_range`, `write_files_through`) and turn what it did into metadata.
"""

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from txn_assets.defs.catalog import (
    DETECTION_FILE_KINDS,
    DETECTION_KINDS,
    OWNERS,
    PATTERN_STATE_KINDS,
)
from txn_assets.defs.failures import final_errors_fail_without_retry
from txn_assets.defs.ingestion.assets import staged_chunk
from txn_assets.defs.partitions import chunk_partitions
from txn_assets.defs.source.assets import customer_weights
from txn_assets.lib.chunks import chunk_index, chunk_key
from txn_assets.lib.detection_files import write_files_through
from txn_assets.lib.mechanism_y import apply_staged_range
from txn_assets.lib.rules import ACTION_TYPES
from txn_assets.lib.state.engine import GENDER_COLUMNS, ChunkResult
from txn_assets.lib.stream_summary import chunk_timings
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.rules import RulesResource
from txn_assets.resources.sources import SourceResource
from txn_assets.resources.stores import StoreResource

# Transient failures (a database restart, a lost Spark Connect session) are retried in the run,
# with backoff; errors about the stream's inputs fail at once (defs/failures.py).
TRANSIENT_RETRIES = dg.RetryPolicy(max_retries=3, delay=2, backoff=dg.Backoff.EXPONENTIAL)


_CHUNK_COLUMNS = [
    dg.TableColumn("chunk", "string"),
    dg.TableColumn("status", "string", description="applied, or rejected with the reason"),
    dg.TableColumn("rows", "int", description="valid rows folded into the state"),
    dg.TableColumn("quarantined", "int", description="bad rows kept in txn.quarantine"),
    dg.TableColumn("unknown_gender", "int"),
    *(dg.TableColumn(pattern, "int", description="detections emitted") for pattern in ACTION_TYPES),
    dg.TableColumn("latency_s", "float", description="staged → detections committed, seconds"),
    dg.TableColumn("processing_s", "float", description="Mechanism Y's work on the chunk"),
    dg.TableColumn("rerun", "bool", description="already applied: reported, unchanged"),
]


def _chunk_table(
    results: Sequence[ChunkResult], latency: Mapping[int, float]
) -> dg.TableMetadataValue:
    """One row per chunk of the run: what the UI's partition page shows as a table."""
    records = []
    for r in results:
        by_pattern = r.detections_by_pattern()
        seconds = latency.get(r.chunk_index)
        records.append(
            dg.TableRecord(
                {
                    "chunk": chunk_key(r.chunk_index),
                    "status": f"rejected: {r.rejected_reason}" if r.rejected else "applied",
                    "rows": r.valid_rows,
                    "quarantined": r.quarantined_rows,
                    "unknown_gender": r.gender_rows.get("unknown_gender_rows", 0),
                    **by_pattern,
                    "latency_s": round(seconds, 3) if seconds is not None else None,
                    "processing_s": round(r.seconds, 3),
                    "rerun": r.already_applied,
                }
            )
        )
    return dg.MetadataValue.table(records, schema=dg.TableSchema(columns=_CHUNK_COLUMNS))


def _state_metadata(results: Sequence[ChunkResult], latency: Mapping[int, float]) -> dict[str, Any]:
    rejected = [r for r in results if r.rejected]
    genders = {name: sum(r.gender_rows.get(name, 0) for r in results) for name in GENDER_COLUMNS}
    latencies = [latency[r.chunk_index] for r in results if r.chunk_index in latency]
    return {
        "chunks": dg.MetadataValue.int(len(results)),
        "rows": dg.MetadataValue.int(sum(r.valid_rows for r in results)),
        "quarantined_rows": dg.MetadataValue.int(sum(r.quarantined_rows for r in results)),
        "rejected_chunks": dg.MetadataValue.md(
            "\n".join(f"- {chunk_key(r.chunk_index)}: {r.rejected_reason}" for r in rejected)
            or "none"
        ),
        **{name: dg.MetadataValue.int(n) for name, n in genders.items()},
        "processing_seconds": dg.MetadataValue.float(round(sum(r.seconds for r in results), 3)),
        "max_latency_seconds": dg.MetadataValue.float(round(max(latencies), 3))
        if latencies
        else None,
        "per_chunk": _chunk_table(results, latency),
    }


def _detection_metadata(results: Sequence[ChunkResult]) -> dict[str, Any]:
    by_pattern = {p: sum(r.detections_by_pattern()[p] for r in results) for p in ACTION_TYPES}
    table = ["| pattern | detections |", "|---|---|"]
    table += [f"| {pattern} | {n} |" for pattern, n in by_pattern.items()]
    return {
        "by_pattern": dg.MetadataValue.md("\n".join(table)),
        "detections": dg.MetadataValue.int(sum(by_pattern.values())),
        **{
            f"detections_{p.lower().replace('-', '_')}": dg.MetadataValue.int(n)
            for p, n in by_pattern.items()
        },
        "detections_total": dg.MetadataValue.int(max(r.detections_total for r in results)),
    }


class ApplyConfig(dg.Config):
    """Launchpad settings of a Mechanism Y run."""

    # Apply the run's rejected chunks late, once their cause is fixed and they are re-staged.
    reapply_rejected: bool = False


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "pattern_state",
            deps=[staged_chunk, customer_weights],
            owners=OWNERS,
            kinds=PATTERN_STATE_KINDS,
            description="Cumulative per-merchant/customer state in PostgreSQL (txn.merchant_customer, "
            "txn.merchant, txn.applied_chunk). Materialising chunk k applies every staged chunk "
            "up to k that is not applied yet, in order; applied chunks are reported, unchanged.",
        ),
        dg.AssetSpec(
            "chunk_detections",
            deps=["pattern_state"],
            owners=OWNERS,
            kinds=DETECTION_KINDS,
            description="Detections each chunk produced (txn.detection), emitted once and never retracted.",
        ),
    ],
    partitions_def=chunk_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="detection",
    retry_policy=TRANSIENT_RETRIES,
)
def apply_chunks(
    context: dg.AssetExecutionContext,
    config: ApplyConfig,
    postgres: PostgresResource,
    spark: LazyPySparkResource,
    stores: StoreResource,
    rules: RulesResource,
    source: SourceResource,
) -> Iterator[dg.MaterializeResult]:
    """Apply the run's chunks (and any unapplied ones before them) in order, one transaction each."""
    requested = [chunk_index(k) for k in context.partition_keys]
    with final_errors_fail_without_retry(context), postgres.connect() as conn:
        outcome = apply_staged_range(
            conn,
            stores.staging(),
            requested,
            spark=lambda: spark.spark_session,
            rules=rules.rules(),
            scratch=stores.scratch(),
            spark_path=stores.spark_path,
            importance_md5=source.importance().identity().md5,
            reapply_rejected=config.reapply_rejected,
        )
        timings = chunk_timings(conn, [r.chunk_index for r in outcome.results])
    latency = {t.index: t.latency for t in timings}
    for result in outcome.results:
        if result.rejected:
            context.log.warning(
                "chunk %s rejected: %s (%s lines quarantined)",
                chunk_key(result.chunk_index),
                result.rejected_reason,
                result.quarantined_rows,
            )
            continue
        context.log.info(
            "chunk %s: %s rows, %s quarantined, %s detections%s",
            chunk_key(result.chunk_index),
            result.valid_rows,
            result.quarantined_rows,
            len(result.detections),
            " (already applied: unchanged)" if result.already_applied else "",
        )
    # Chunks a failed run left behind, applied here first: their partitions get their record too.
    for result in outcome.earlier:
        for asset, metadata in (
            ("pattern_state", _state_metadata([result], latency)),
            ("chunk_detections", _detection_metadata([result])),
        ):
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=asset, partition=chunk_key(result.chunk_index), metadata=metadata
                )
            )
    asked = [r for r in outcome.results if r.chunk_index in set(outcome.requested)]
    yield dg.MaterializeResult(asset_key="pattern_state", metadata=_state_metadata(asked, latency))
    yield dg.MaterializeResult(asset_key="chunk_detections", metadata=_detection_metadata(asked))


@dg.asset(
    partitions_def=chunk_partitions,
    deps=["chunk_detections"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="detection",
    owners=OWNERS,
    kinds=DETECTION_FILE_KINDS,
    retry_policy=TRANSIENT_RETRIES,
    description="Detection CSV files in the output store, 50 detections each, named in order.",
)
def detection_files(
    context: dg.AssetExecutionContext, postgres: PostgresResource, stores: StoreResource
) -> dg.MaterializeResult:
    """Write every file complete through the range's last chunk; the partial one at stream end."""
    last = max(chunk_index(k) for k in context.partition_keys)
    output = stores.output()
    with final_errors_fail_without_retry(context), postgres.connect() as conn:
        outcome = write_files_through(conn, output, stores.output_prefix, last)
    for w in outcome.written:
        context.log.info("wrote %s (%s detections, %s)", w.uri, w.rows, w.outcome.value)
    return dg.MaterializeResult(
        metadata={
            "files_written": dg.MetadataValue.int(len(outcome.written)),
            "paths": dg.MetadataValue.md(
                "\n".join(f"- `{w.uri}`" for w in outcome.written)
                or "(none: waiting for 50 detections)"
            ),
            "files_total": dg.MetadataValue.int(outcome.files_total),
            "detections_in_files": dg.MetadataValue.int(outcome.detections_in_files),
            "stream_ended": outcome.final,
            "output_location": output.uri(stores.output_prefix),
        }
    )
