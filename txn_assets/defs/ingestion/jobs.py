"""Mechanism X as a job: launch it to start the producer, terminate the run to stop it."""

import time

import dagster as dg

from txn_assets.defs.failures import final_errors_fail_without_retry
from txn_assets.defs.ingestion.assets import staged_chunk, staged_chunk_metadata
from txn_assets.defs.partitions import CHUNKS
from txn_assets.defs.source.assets import TRANSACTIONS_FILE, observation
from txn_assets.lib import settings
from txn_assets.lib.chunks import chunk_key
from txn_assets.lib.producer import cut_next_chunk
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.sources import SourceResource
from txn_assets.resources.stores import StoreResource


class ProducerConfig(dg.Config):
    """How fast Mechanism X cuts chunks, and when it stops on its own."""

    interval_seconds: float = settings.PRODUCER_INTERVAL_SECONDS  # 0: as fast as possible
    max_chunks: int = 0  # 0: until the end of the source


@dg.op(
    description="Cut the next chunk every interval until the source ends (terminate the run to stop).",
    # A database restart or a source hiccup: the op starts again from the position PostgreSQL
    # holds, so no chunk is lost or repeated. Errors about the input fail at once.
    retry_policy=dg.RetryPolicy(max_retries=5, delay=1, backoff=dg.Backoff.EXPONENTIAL),
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
    context.log_event(observation(TRANSACTIONS_FILE.key, transactions))
    produced = 0
    with final_errors_fail_without_retry(context), postgres.connect() as conn:
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
