"""Mechanism Y: fold staged chunks into PostgreSQL state, emit detections, write detection files.

Runs cover a range of chunks (BackfillPolicy.single_run) and apply them in order inside the run,
so one run can catch up many chunks; a rerun of any partition is a no-op by the engine's ledger.
"""

import hashlib
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import dagster as dg

from txn_assets.defs.ingestion.assets import staged_chunk
from txn_assets.defs.partitions import chunk_partitions
from txn_assets.defs.source.assets import customer_weights
from txn_assets.lib.chunks import chunk_index
from txn_assets.lib.detection_files import write_detection_files
from txn_assets.lib.producer import read_stream_end, staged_chunk_key
from txn_assets.lib.state import engine
from txn_assets.lib.state.engine import ChunkInput, ChunkResult
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.rules import RulesResource
from txn_assets.resources.spark import SparkResource
from txn_assets.resources.stores import StoreResource

# A run for chunks k.. may start while another run still applies k-1: wait for it this long.
PREDECESSOR_WAIT_SECONDS = 300.0
QUARANTINE_WARN_SHARE = 0.01
# A Spark job costs most of a second whatever its size: a run that is behind parses up to this
# many chunks in one action (bounded, since their aggregates are collected to the driver).
CHUNKS_PER_SPARK_ACTION = 10


def _wait_for_turn(conn: Any, index: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        expected = engine.next_chunk(conn)
        conn.commit()
        if expected >= index:
            return
        time.sleep(0.5)


def _data_lines(data: bytes) -> int:
    """Data rows of a staged chunk's bytes (lines after the header, as Spark splits them)."""
    return max(0, len(data.splitlines()) - 1)


def _chunk_table(results: list[tuple[ChunkResult, int]]) -> str:
    lines = [
        "| chunk | rows | quarantined | UPGRADE | CHILD | DEI-NEEDED | seconds | rerun |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r, _ in results:
        p = r.detections_by_pattern()
        lines.append(
            f"| {r.chunk_index} | {r.valid_rows} | {r.quarantined_rows} | {p['UPGRADE']} | {p['CHILD']} "
            f"| {p['DEI-NEEDED']} | {r.seconds:.2f} | {r.already_applied} |"
        )
    return "\n".join(lines)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "pattern_state",
            deps=[staged_chunk, customer_weights],
            description="Cumulative per-merchant/customer state in PostgreSQL (txn.merchant_customer, txn.merchant, txn.applied_chunk).",
        ),
        dg.AssetSpec(
            "chunk_detections",
            deps=["pattern_state"],
            description="Detections each chunk produced (txn.detection), emitted once and never retracted.",
        ),
    ],
    partitions_def=chunk_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="detection",
    check_specs=[
        dg.AssetCheckSpec(
            "rows_accounted",
            asset="pattern_state",
            description="Every staged row was applied or quarantined.",
        ),
        dg.AssetCheckSpec(
            "no_chunk_gap",
            asset="pattern_state",
            description="Applied chunks are 0..n with no gap.",
        ),
        dg.AssetCheckSpec(
            "quarantine_share",
            asset="pattern_state",
            description="At most 1% of a chunk's rows quarantined.",
        ),
    ],
)
def apply_chunks(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    spark: SparkResource,
    stores: StoreResource,
    rules: RulesResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Apply each chunk of the run's range in order, one PostgreSQL transaction per chunk."""
    staging = stores.staging()
    session = spark.session()
    detection_rules = rules.rules()
    results: list[tuple[ChunkResult, int]] = []
    keys = sorted(context.partition_keys)
    with postgres.connect() as conn:
        for first in range(0, len(keys), CHUNKS_PER_SPARK_ACTION):
            batch = [chunk_index(k) for k in keys[first : first + CHUNKS_PER_SPARK_ACTION]]
            _wait_for_turn(conn, batch[0], PREDECESSOR_WAIT_SECONDS)
            inputs, lines = [], []
            with ExitStack() as copies:  # scratch copies live as long as their batch
                for index in batch:
                    staged = staged_chunk_key(stores.staging_prefix, index)
                    # Databricks: Spark reads abfss:// itself; otherwise it reads a local copy.
                    spark_path = stores.spark_path(staged)
                    if spark_path is None:
                        local = copies.enter_context(staging.local_copy(staged, stores.scratch()))
                        spark_path, data = str(local), local.read_bytes()
                    else:
                        data = staging.get(staged)
                    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
                    inputs.append(ChunkInput(index, spark_path, md5))
                    lines.append(_data_lines(data))
                applied_batch = engine.apply_chunks(conn, session, inputs, detection_rules)
            for result, staged_lines in zip(applied_batch, lines, strict=True):
                results.append((result, staged_lines))
                context.log.info(
                    "chunk %s: %s rows, %s quarantined, %s detections%s",
                    result.chunk_index,
                    result.valid_rows,
                    result.quarantined_rows,
                    len(result.detections),
                    " (already applied: unchanged)" if result.already_applied else "",
                )
        applied = conn.execute(
            "SELECT count(*), coalesce(max(chunk_index), -1) FROM txn.applied_chunk"
        ).fetchone()
        conn.commit()

    rows = sum(r.valid_rows for r, _ in results)
    quarantined = sum(r.quarantined_rows for r, _ in results)
    by_pattern = {
        p: sum(r.detections_by_pattern()[p] for r, _ in results)
        for p in ("UPGRADE", "CHILD", "DEI-NEEDED")
    }
    common = {
        "chunks": dg.MetadataValue.int(len(results)),
        "per_chunk": dg.MetadataValue.md(_chunk_table(results)),
    }
    yield dg.MaterializeResult(
        asset_key="pattern_state",
        metadata={
            **common,
            "rows": dg.MetadataValue.int(rows),
            "quarantined_rows": dg.MetadataValue.int(quarantined),
            "processing_seconds": dg.MetadataValue.float(
                round(sum(r.seconds for r, _ in results), 3)
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key="chunk_detections",
        metadata={
            **common,
            "detections": dg.MetadataValue.int(sum(by_pattern.values())),
            **{
                f"detections_{p.lower().replace('-', '_')}": dg.MetadataValue.int(n)
                for p, n in by_pattern.items()
            },
            "detections_total": dg.MetadataValue.int(max(r.detections_total for r, _ in results)),
        },
    )
    unaccounted = [
        r.chunk_index for r, lines in results if r.valid_rows + r.quarantined_rows != lines
    ]
    yield dg.AssetCheckResult(
        asset_key="pattern_state",
        check_name="rows_accounted",
        passed=not unaccounted,
        metadata={"chunks_with_missing_rows": str(unaccounted)},
    )
    count, last = applied if applied else (0, -1)
    yield dg.AssetCheckResult(
        asset_key="pattern_state",
        check_name="no_chunk_gap",
        passed=count == last + 1,
        metadata={"applied_chunks": int(count), "last_chunk": int(last)},
    )
    worst = max(((r.quarantined_rows / max(1, lines)), r.chunk_index) for r, lines in results)
    yield dg.AssetCheckResult(
        asset_key="pattern_state",
        check_name="quarantine_share",
        passed=worst[0] <= QUARANTINE_WARN_SHARE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "worst_share": dg.MetadataValue.float(round(worst[0], 5)),
            "worst_chunk": int(worst[1]),
        },
    )


@dg.asset(
    partitions_def=chunk_partitions,
    deps=["chunk_detections"],
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="detection",
    description="Detection CSV files in the output store, 50 detections each, named in order.",
)
def detection_files(
    context: dg.AssetExecutionContext, postgres: PostgresResource, stores: StoreResource
) -> dg.MaterializeResult:
    """Write every file complete through the range's last chunk; flush the partial one at stream end."""
    last = max(chunk_index(k) for k in context.partition_keys)
    end = read_stream_end(stores.staging(), stores.staging_prefix)
    final = end is not None and last == end.chunks - 1
    output = stores.output()
    with postgres.connect() as conn:
        written = write_detection_files(conn, output, stores.output_prefix, last, final=final)
        files = conn.execute(
            "SELECT count(*), coalesce(sum(rows), 0) FROM txn.detection_file"
        ).fetchone()
        conn.commit()
    for w in written:
        context.log.info("wrote %s (%s detections, %s)", w.uri, w.rows, w.outcome.value)
    return dg.MaterializeResult(
        metadata={
            "files_written": dg.MetadataValue.int(len(written)),
            "paths": dg.MetadataValue.md(
                "\n".join(f"- `{w.uri}`" for w in written) or "(none: waiting for 50 detections)"
            ),
            "files_total": dg.MetadataValue.int(int(files[0]) if files else 0),
            "detections_in_files": dg.MetadataValue.int(int(files[1]) if files else 0),
            "stream_ended": final,
            "output_location": output.uri(stores.output_prefix),
        }
    )
