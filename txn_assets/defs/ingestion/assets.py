"""Mechanism X's output as an asset: one staged chunk per partition, in the staging store."""

import time
from typing import Any

import dagster as dg

from txn_assets.defs.catalog import OWNERS, STAGED_CHUNK_KINDS
from txn_assets.defs.failures import final_errors_fail_without_retry
from txn_assets.defs.partitions import chunk_partitions
from txn_assets.defs.source.assets import transactions_file
from txn_assets.lib.chunks import chunk_index
from txn_assets.lib.producer import StagedChunk, restage_chunk
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.sources import SourceResource
from txn_assets.resources.stores import StoreResource


def staged_chunk_metadata(chunk: StagedChunk, uri: str, seconds: float) -> dict[str, Any]:
    """What a staged_chunk materialisation shows in the UI."""
    return {
        "rows": dg.MetadataValue.int(chunk.rows),
        "path": dg.MetadataValue.path(uri),
        "byte_range": f"{chunk.byte_start}-{chunk.byte_end}",
        "md5": chunk.md5,
        "last_chunk": chunk.is_last,
        "outcome": chunk.outcome.value,
        "processing_seconds": dg.MetadataValue.float(round(seconds, 3)),
    }


@dg.asset(
    partitions_def=chunk_partitions,
    deps=[transactions_file],
    group_name="ingestion",
    owners=OWNERS,
    kinds=STAGED_CHUNK_KINDS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="One chunk of transactions.csv (10,000 rows by default) in the staging store. "
    "Mechanism X (mechanism_x_job) stages new chunks; materialising a partition re-stages a "
    "staged chunk from its recorded byte range (identical bytes) and never cuts a new one.",
)
def staged_chunk(
    context: dg.AssetExecutionContext,
    source: SourceResource,
    stores: StoreResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    """Re-stage recorded chunks; a chunk X has not staged yet fails clearly and changes nothing."""
    staging, transactions = stores.staging(), source.transactions()
    results = []
    with final_errors_fail_without_retry(context), postgres.connect() as conn:
        for key in sorted(context.partition_keys):
            started = time.monotonic()
            chunk = restage_chunk(
                conn, transactions, staging, stores.staging_prefix, chunk_index(key)
            )
            results.append(
                staged_chunk_metadata(chunk, staging.uri(chunk.key), time.monotonic() - started)
            )
    if len(results) == 1:
        return dg.MaterializeResult(metadata=results[0])
    return dg.MaterializeResult(
        metadata={"chunks": len(results), "rows": sum(r["rows"].value for r in results)}
    )
