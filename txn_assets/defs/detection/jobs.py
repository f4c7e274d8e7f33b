"""The Mechanism Y job the sensor launches: one run over a range of chunks, in process."""

import dagster as dg

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.partitions import chunk_partitions

# Runs with this tag are queued one at a time (dagster.yaml), so chunk ranges apply in order.
STREAM_TAG = "txn-assets/stream"

mechanism_y_job = dg.define_asset_job(
    "mechanism_y_job",
    selection=dg.AssetSelection.assets(apply_chunks, detection_files),
    partitions_def=chunk_partitions,
    executor_def=dg.in_process_executor,
    tags={STREAM_TAG: "y"},
    description="Mechanism Y over a chunk range: apply chunks in order, then write detection files.",
)
