"""The two source files (observed, not produced here) and the weights loaded from one of them."""

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from txn_assets.defs.partitions import STREAM_TAG
from txn_assets.lib.sources.base import RangedSource
from txn_assets.lib.state.engine import load_weights, loaded_weights
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.sources import SourceResource
from txn_assets.resources.stores import StoreResource


def _observe(source: RangedSource) -> dg.ObserveResult:
    identity = source.identity()
    return dg.ObserveResult(
        data_version=dg.DataVersion(identity.md5),
        metadata={
            "name": identity.name,
            "size_bytes": dg.MetadataValue.int(identity.size),
            "md5": identity.md5,
            "modified": identity.modified,
        },
    )


@dg.observable_source_asset(
    group_name="source", description="transactions.csv in the source (Drive or local)."
)
def transactions_file(source: SourceResource) -> dg.ObserveResult:
    """Size and checksum, so a change of the file is visible (and stops Mechanism X)."""
    return _observe(source.transactions())


@dg.observable_source_asset(
    group_name="source", description="CustomerImportance.csv in the source."
)
def importance_file(source: SourceResource) -> dg.ObserveResult:
    """Size and checksum of the reference data."""
    return _observe(source.importance())


@dg.asset(
    group_name="source",
    deps=[importance_file],
    description="Mean weight per (customer, merchant) in PostgreSQL (txn.customer_weight); once per stream.",
)
def customer_weights(
    context: dg.AssetExecutionContext,
    source: SourceResource,
    postgres: PostgresResource,
    spark: LazyPySparkResource,
    stores: StoreResource,
) -> dg.MaterializeResult:
    """Loads the reference data once; a rematerialisation with the same file changes nothing."""
    importance = source.importance()
    identity = importance.identity()
    with postgres.connect() as conn:
        # Decided from the state before anything is downloaded or Spark starts.
        result = loaded_weights(conn, identity.md5)
        if result is None:
            local = importance.download_to(stores.scratch() / "CustomerImportance.csv")
            result = load_weights(conn, spark.spark_session, str(local), identity.md5)
    context.log.info("weights: %s pairs (already loaded: %s)", result.pairs, result.already_loaded)
    return dg.MaterializeResult(
        metadata={
            "pairs": dg.MetadataValue.int(result.pairs),
            "quarantined_rows": dg.MetadataValue.int(result.quarantined_rows),
            "already_loaded": result.already_loaded,
            "source_md5": identity.md5,
        },
        data_version=dg.DataVersion(identity.md5),
    )


customer_weights_job = dg.define_asset_job(
    "customer_weights_job",
    selection=[customer_weights],
    executor_def=dg.in_process_executor,
    tags={STREAM_TAG: "weights"},
    description="Load CustomerImportance into PostgreSQL; the sensor requests it before the first chunk.",
)
