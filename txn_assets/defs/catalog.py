"""What the asset graph says about every asset: who owns it and which technology holds it.

The kinds follow the environment (a local folder shows as `filesystem`, Azure Blob as `azure`,
Google Drive as `googledrive`), so the graph never claims a technology the run does not use.
"""

from txn_assets.defs.resources import source_kind, store_kind

# The team that answers for the stream; Dagster shows it on every asset and filters by it.
OWNERS = ["team:txn-data-platform"]

SOURCE_FILE_KINDS = {"csv", source_kind()}
WEIGHTS_KINDS = {"spark", "postgres"}
STAGED_CHUNK_KINDS = {"csv", store_kind()}
PATTERN_STATE_KINDS = {"spark", "postgres"}
DETECTION_KINDS = {"postgres"}
DETECTION_FILE_KINDS = {"csv", store_kind()}
REPORT_KINDS = {"postgres", "matplotlib", "html"}
