"""SQL of the stream report: detections with their evidence, and per-chunk and per-merchant counts."""

# Every detection, in detection order; evidence as text so that its numbers are read exactly.
DETECTIONS = """
SELECT seq, chunk_index, pattern_id, action_type, customer, merchant, detected_at, evidence::text
FROM txn.detection ORDER BY seq
"""
# New detections per chunk and pattern (chunks with none are absent).
DETECTIONS_PER_CHUNK = """
SELECT chunk_index, action_type, count(*) FROM txn.detection
GROUP BY chunk_index, action_type ORDER BY chunk_index
"""
# The merchants with most detections, with their detections per pattern.
TOP_MERCHANTS = """
WITH top AS (
    SELECT merchant, count(*) AS total FROM txn.detection
    GROUP BY merchant ORDER BY total DESC, merchant LIMIT %(limit)s
)
SELECT d.merchant, d.action_type, count(*), t.total FROM txn.detection d JOIN top t USING (merchant)
GROUP BY d.merchant, d.action_type, t.total ORDER BY t.total DESC, d.merchant
"""
# Every chunk in the ledger (rejected ones too) with its rows and quarantined rows.
CHUNK_ROWS = """
SELECT chunk_index, status, valid_rows, quarantined_rows FROM txn.applied_chunk ORDER BY chunk_index
"""
STREAM = "SELECT rules, y_start_time FROM txn.stream WHERE stream_id = 1"
