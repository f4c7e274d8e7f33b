"""The two source files (observed, not produced here) and the weights loaded from one of them."""

import dagster as dg
from dagster_pyspark import LazyPySparkResource

from txn_assets.defs.catalog import OWNERS, SOURCE_FILE_KINDS, WEIGHTS_KINDS
from txn_assets.defs.partitions import STREAM_TAG
from txn_assets.lib.sources.base import RangedSource
from txn_assets.lib.state.engine import load_weights, loaded_weights
from txn_assets.resources.postgres import PostgresResource
from txn_assets.resources.sources import SourceResource
from txn_assets.resources.stores import StoreResource


def observation(key: dg.AssetKey, source: RangedSource) -> dg.AssetObservation:
    """The file's size and checksum as seen now: a changed file shows as a new data version.

    Mechanism X and the weights load record it as they read the file, so the graph shows the
    version each stream used without anyone observing the sources by hand.
    """
    identity = source.identity()
    return dg.AssetObservation(
        asset_key=key,
        tags={"dagster/data_version": identity.md5},
        metadata={
            "name": identity.name,
            "size_bytes": dg.MetadataValue.int(identity.size),
            "md5": identity.md5,
            "modified": identity.modified,
        },
    )


def _observe_result(observed: dg.AssetObservation) -> dg.ObserveResult:
    return dg.ObserveResult(
        data_version=dg.DataVersion(observed.tags["dagster/data_version"]),
        metadata=observed.metadata,
    )


TRANSACTIONS_FILE = dg.AssetSpec(
    "transactions_file",
    group_name="source",
    owners=OWNERS,
    kinds=SOURCE_FILE_KINDS,
    description="transactions.csv in the source (Google Drive or a local file): the stream's "
    "input. Mechanism X records its size and md5 whenever it starts cutting chunks from it.",
)
IMPORTANCE_FILE = dg.AssetSpec(
    "importance_file",
    group_name="source",
    owners=OWNERS,
    kinds=SOURCE_FILE_KINDS,
    description="CustomerImportance.csv in the source: the weights of (customer, merchant) pairs "
    "that the UPGRADE pattern reads. Recorded when customer_weights loads it.",
)


@dg.multi_observable_source_asset(specs=[TRANSACTIONS_FILE])
def transactions_file(source: SourceResource) -> dg.ObserveResult:
    """Size and checksum, so a change of the file is visible (and stops Mechanism X)."""
    return _observe_result(observation(TRANSACTIONS_FILE.key, source.transactions()))


@dg.multi_observable_source_asset(specs=[IMPORTANCE_FILE])
def importance_file(source: SourceResource) -> dg.ObserveResult:
    """Size and checksum of the reference data."""
    return _observe_result(observation(IMPORTANCE_FILE.key, source.importance()))


@dg.asset(
    group_name="source",
    deps=[importance_file],
    owners=OWNERS,
    kinds=WEIGHTS_KINDS,
    description="Mean weight per (customer, merchant) in PostgreSQL (txn.customer_weight), loaded "
    "once per stream from CustomerImportance.csv (plain lines read with Arrow, any other line "
    "judged by Spark's parser); the sensor requests it before the first chunk. A "
    "rematerialisation with the same file changes nothing.",
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
    context.log_event(observation(IMPORTANCE_FILE.key, importance))
    with postgres.connect() as conn:
        # Decided from the state before anything is downloaded or Spark starts.
        result = loaded_weights(conn, identity.md5)
        if result is None:
            local = importance.download_to(stores.scratch() / "CustomerImportance.csv")
            result = load_weights(
                conn,
                lambda: spark.spark_session,  # started only for lines Arrow cannot judge
                str(local),
                identity.md5,
                scratch=stores.scratch(),
            )
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
