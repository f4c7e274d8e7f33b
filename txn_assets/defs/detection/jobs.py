"""The Mechanism Y job the sensor launches: one run over a range of chunks, in process."""

import dagster as dg

from txn_assets.defs.detection.assets import apply_chunks, detection_files
from txn_assets.defs.partitions import STREAM_TAG, chunk_partitions

mechanism_y_job = dg.define_asset_job(
    "mechanism_y_job",
    # The stream's checks run on their own schedule: some read every detection file.
    selection=dg.AssetSelection.assets(apply_chunks, detection_files).without_checks(),
    partitions_def=chunk_partitions,
    executor_def=dg.in_process_executor,
    tags={STREAM_TAG: "chunks"},
    description="Mechanism Y over a chunk range: apply chunks in order, then write detection files.",
)
