"""SQL that reads the stream as a whole: progress, what is pending, and the audits of checks."""

STATUS = """
SELECT (SELECT count(*) FROM txn.staged_chunk) AS staged,
       (SELECT count(*) FROM txn.applied_chunk) AS applied,
       (SELECT coalesce(max(chunk_index) + 1, 0) FROM txn.applied_chunk) AS next_chunk,
       (SELECT count(*) FROM txn.detection) AS detections,
       (SELECT count(*) FROM txn.detection_file) AS files,
       s.importance_md5 AS weights_md5,
       (SELECT CASE WHEN ended THEN next_chunk END FROM txn.producer) AS total_chunks,
       (SELECT extract(epoch FROM now() - min(st.staged_at)) FROM txn.staged_chunk st
         WHERE st.chunk_index >= (SELECT coalesce(max(chunk_index) + 1, 0) FROM txn.applied_chunk)
       )::float8 AS oldest_pending_seconds,
       coalesce((SELECT array_agg(chunk_index ORDER BY chunk_index) FROM txn.applied_chunk
                  WHERE status = 'rejected'), '{}') AS rejected
FROM txn.stream s WHERE s.stream_id = 1
"""

# Merchant totals must equal the valid rows of the applied chunks, and the pair table must add
# up to the merchant table: a drift means a chunk was merged twice, partly, or not at all.
TOTALS_AUDIT = """
SELECT (SELECT coalesce(sum(valid_rows), 0) FROM txn.applied_chunk) AS ledger_rows,
       (SELECT coalesce(sum(txn_count), 0) FROM txn.merchant) AS merchant_rows,
       (SELECT count(*) FROM txn.merchant m
         WHERE m.txn_count <> (SELECT coalesce(sum(mc.txn_count), 0)
                               FROM txn.merchant_customer mc WHERE mc.merchant = m.merchant)
       ) AS merchants_off
"""

QUARANTINE_AUDIT = """
SELECT coalesce(sum(valid_rows), 0), coalesce(sum(quarantined_rows), 0),
       (SELECT chunk_index FROM txn.applied_chunk
         ORDER BY quarantined_rows::float8 / greatest(1, valid_rows + quarantined_rows) DESC,
                  chunk_index LIMIT 1)
FROM txn.applied_chunk
"""

DETECTION_SEQS = "SELECT count(*), coalesce(min(seq), 0), coalesce(max(seq), -1) FROM txn.detection"

CHUNK_LEDGER = """
SELECT status, reason, valid_rows, quarantined_rows, unknown_gender_rows, reapplied_at
FROM txn.applied_chunk WHERE chunk_index = %(chunk_index)s
"""
# Each applied chunk's timeline (benchmark, report): when it landed, when Y applied it, where
# its time went. A chunk commits once its stages after `applied_at` are done.
CHUNK_TIMELINE = """
SELECT s.chunk_index, s.rows, s.staged_at, a.applied_at, a.stage_seconds, a.detections
FROM txn.staged_chunk s JOIN txn.applied_chunk a USING (chunk_index)
WHERE a.status = 'applied' AND (%(chunks)s::int[] IS NULL OR s.chunk_index = ANY(%(chunks)s))
ORDER BY s.chunk_index
"""
WEIGHTS_LOADED_AT = "SELECT weights_loaded_at FROM txn.stream WHERE stream_id = 1"
# The end-of-stream summary: rows, quarantined rows and detections per pattern.
SUMMARY_ROWS = """
SELECT coalesce(sum(valid_rows), 0), coalesce(sum(quarantined_rows), 0),
       count(*) FILTER (WHERE status = 'rejected')
FROM txn.applied_chunk
"""
DETECTIONS_BY_PATTERN = "SELECT action_type, count(*) FROM txn.detection GROUP BY action_type"
# What the live progress shows beside the status: rows applied and how far X is in the source.
PROGRESS = """
SELECT (SELECT coalesce(sum(valid_rows), 0) FROM txn.applied_chunk) AS rows_applied,
       (SELECT coalesce(sum(quarantined_rows), 0) FROM txn.applied_chunk) AS rows_quarantined,
       p.next_offset AS bytes_staged, p.source_size AS source_bytes
FROM txn.stream s LEFT JOIN txn.producer p ON true
WHERE s.stream_id = 1
"""
