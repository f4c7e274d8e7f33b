"""Mechanism X: staged chunks, produced by the producer job or (re)materialised per partition."""

import time
from typing import Any

import dagster as dg

from txn_assets.defs.partitions import CHUNKS, chunk_partitions
from txn_assets.defs.source.assets import transactions_file
from txn_assets.lib.chunks import chunk_index, chunk_key
from txn_assets.lib.producer import StagedChunk, cut_next_chunk, restage_chunk
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
    backfill_policy=dg.BackfillPolicy.single_run(),
    description="One chunk of transactions.csv (10,000 rows by default) in the staging store.",
)
def staged_chunk(
    context: dg.AssetExecutionContext,
    source: SourceResource,
    stores: StoreResource,
    postgres: PostgresResource,
) -> dg.MaterializeResult:
    """Re-stages recorded chunks from their byte range, or cuts the next one; never a different chunk."""
    staging = stores.staging()
    results = []
    with postgres.connect() as conn:
        for key in sorted(context.partition_keys):
            started = time.monotonic()
            index = chunk_index(key)
            recorded = conn.execute(
                "SELECT 1 FROM txn.staged_chunk WHERE chunk_index = %s", (index,)
            ).fetchone()
            conn.commit()
            if recorded:
                chunk = restage_chunk(
                    conn, source.transactions(), staging, stores.staging_prefix, index
                )
            else:
                cut = cut_next_chunk(
                    conn, source.transactions(), staging, stores.staging_prefix, source.chunk_rows
                )
                if cut is None or cut.index != index:
                    got = (
                        "nothing (the source is fully staged)"
                        if cut is None
                        else f"chunk {cut.index}"
                    )
                    raise dg.Failure(f"chunk {index} is not the next chunk to stage; staged {got}")
                chunk = cut
            results.append(
                staged_chunk_metadata(chunk, staging.uri(chunk.key), time.monotonic() - started)
            )
    if len(results) == 1:
        return dg.MaterializeResult(metadata=results[0])
    return dg.MaterializeResult(
        metadata={"chunks": len(results), "rows": sum(r["rows"].value for r in results)}
    )


class ProducerConfig(dg.Config):
    """How fast Mechanism X cuts chunks, and when it stops on its own."""

    interval_seconds: float = 1.0  # 0: as fast as possible
    max_chunks: int = 0  # 0: until the end of the source


@dg.op(
    description="Cut the next chunk every interval until the source ends (terminate the run to stop)."
)
def produce_chunks(
    context: dg.OpExecutionContext,
    config: ProducerConfig,
    source: SourceResource,
    stores: StoreResource,
    postgres: PostgresResource,
) -> int:
    """Each tick stages one chunk, adds its partition and records its materialisation."""
    staging = stores.staging()
    # One source object for the whole loop: it caches the checksum while size and mtime hold.
    transactions = source.transactions()
    produced = 0
    with postgres.connect() as conn:
        while config.max_chunks == 0 or produced < config.max_chunks:
            tick = time.monotonic()
            chunk = cut_next_chunk(
                conn, transactions, staging, stores.staging_prefix, source.chunk_rows
            )
            if chunk is None:
                context.log.info("the source is fully staged; Mechanism X stops")
                break
            key = chunk_key(chunk.index)
            context.instance.add_dynamic_partitions(CHUNKS, [key])
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=staged_chunk.key,
                    partition=key,
                    metadata=staged_chunk_metadata(
                        chunk, staging.uri(chunk.key), time.monotonic() - tick
                    ),
                )
            )
            produced += 1
            if chunk.is_last:
                break
            time.sleep(max(0.0, config.interval_seconds - (time.monotonic() - tick)))
    return produced


@dg.job(
    description="Mechanism X: stage the next chunk every second. Launch to start, terminate to stop.",
    executor_def=dg.in_process_executor,
    tags={"txn-assets/mechanism": "x"},
)
def mechanism_x_job() -> None:
    produce_chunks()
