"""The one partitioning every chunk-level asset shares: a dynamic partition per chunk."""

import dagster as dg

CHUNKS = "chunks"
chunk_partitions = dg.DynamicPartitionsDefinition(name=CHUNKS)
