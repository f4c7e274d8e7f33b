"""Defaults written once: every resource, command and benchmark takes them from here.

Detection thresholds live with their meaning in `DetectionRules`; these are the stream's other
knobs. A deployment overrides them through the settings in the README, never by editing code.
"""

from __future__ import annotations

# Mechanism X cuts this many data rows into each chunk (the assignment's 10,000).
CHUNK_ROWS = 10_000
# Seconds between two chunks of Mechanism X (the assignment's one per second).
PRODUCER_INTERVAL_SECONDS = 1.0
# Classic Spark runs in process on both cores of the machine.
SPARK_MASTER = "local[2]"
# Store prefixes (local folder) and containers (Azure Blob) of the two stores.
STAGING_PREFIX = "staging"
OUTPUT_PREFIX = "detections"
STAGING_CONTAINER = "staging"
OUTPUT_CONTAINER = "output"
# A Spark job costs most of a second whatever its size: a run that is behind parses up to this
# many chunks in one action (bounded, since their aggregates are collected to the driver).
CHUNKS_PER_SPARK_ACTION = 10
# An amount (or weight) above this is a bad row ("absurdly large"): BankSim's largest is ~8,300.
MAX_AMOUNT = 1_000_000_000.0
# A staged chunk not applied this many seconds after it was staged turns the lag check red.
MAX_APPLY_LAG_SECONDS = 120
# The quarantine check warns when more than this share of the stream's rows were unusable.
QUARANTINE_WARN_SHARE = 0.01
# The sensor stops re-requesting a chunk after this many failed runs in a row, and says why.
MAX_FAILED_ATTEMPTS = 3
