"""The one partitioning every chunk-level asset shares, and the run tags that carry a chunk range."""

import dagster as dg

CHUNKS = "chunks"
chunk_partitions = dg.DynamicPartitionsDefinition(name=CHUNKS)

# Dagster's documented run tags: a run over a partition range (BackfillPolicy.single_run), and a
# run over one partition. Sensors set the first two to request a range as one run.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PARTITION_TAG = "dagster/partition"

# Runs that change the stream's state carry this tag; dagster.yaml runs them one at a time.
STREAM_TAG = "txn-assets/stream"
