"""SQL of the chunk engine: applying a chunk and loading the weights; one constant per statement."""

LOCK_STREAM = "SELECT rules, y_start_time, weights_loaded_at, importance_md5 FROM txn.stream WHERE stream_id = 1 FOR UPDATE"

APPLIED_CHUNK = """
SELECT chunk_index, content_md5, valid_rows, quarantined_rows, detections, detections_total, applied_at,
       status, reason, female_rows, male_rows, neither_rows, unknown_gender_rows
FROM txn.applied_chunk WHERE chunk_index = %(chunk_index)s
"""
NEXT_CHUNK = "SELECT coalesce(max(chunk_index) + 1, 0) FROM txn.applied_chunk"

CREATE_CHUNK_PAIR = """
CREATE TEMP TABLE chunk_pair (
    merchant text NOT NULL, customer text NOT NULL, txn_count bigint NOT NULL,
    amount_sum numeric NOT NULL, seen_female boolean NOT NULL, seen_male boolean NOT NULL,
    PRIMARY KEY (merchant, customer)
) ON COMMIT DROP
"""
CHUNK_PAIR_COLUMNS = ["merchant", "customer", "txn_count", "amount_sum", "seen_female", "seen_male"]
# Arrow writes UTF-8 whatever the connection's client_encoding: the COPY says so.
COPY_CHUNK_PAIR = (
    f"COPY chunk_pair ({', '.join(CHUNK_PAIR_COLUMNS)}) FROM STDIN (FORMAT csv, ENCODING 'UTF8')"
)
MERGE_MERCHANT_CUSTOMER = """
INSERT INTO txn.merchant_customer AS t (merchant, customer, txn_count, amount_sum, seen_female, seen_male)
SELECT merchant, customer, txn_count, amount_sum, seen_female, seen_male FROM chunk_pair
ON CONFLICT (merchant, customer) DO UPDATE SET
    txn_count   = t.txn_count + EXCLUDED.txn_count,
    amount_sum  = t.amount_sum + EXCLUDED.amount_sum,
    seen_female = t.seen_female OR EXCLUDED.seen_female,
    seen_male   = t.seen_male OR EXCLUDED.seen_male
"""
MERGE_MERCHANT = """
INSERT INTO txn.merchant AS t (merchant, txn_count)
SELECT merchant, sum(txn_count) FROM chunk_pair GROUP BY merchant
ON CONFLICT (merchant) DO UPDATE SET txn_count = t.txn_count + EXCLUDED.txn_count
"""
COPY_QUARANTINE = (
    "COPY txn.quarantine (source, chunk_index, row_number, reason, raw_bytes) FROM STDIN"
)

# Only merchants in this chunk can change state, so only they are judged: percentiles, counts
# and genders of any other merchant are unchanged since the last chunk. Weights are static.
# Each candidate carries its evidence, the numbers the rule compared (migration 0005): counts are
# integers, cuts and weights the double precision values compared (jsonb keeps their shortest
# exact form), amounts numeric; only the mean amount is rounded (6 places), the test is exact.
DETECT = """
WITH touched AS (SELECT DISTINCT merchant FROM chunk_pair),
upgrade_pair AS MATERIALIZED (  -- every pair of a touched merchant over the threshold, read once
    SELECT mc.merchant, mc.customer, mc.txn_count, m.txn_count AS merchant_txns, w.weight
    FROM touched t
    JOIN txn.merchant m ON m.merchant = t.merchant AND m.txn_count > %(upgrade_min_merchant_txns)s
    JOIN txn.merchant_customer mc ON mc.merchant = t.merchant
    LEFT JOIN txn.customer_weight w ON w.merchant = mc.merchant AND w.customer = mc.customer
),
upgrade_cut AS (
    SELECT merchant, max(merchant_txns) AS merchant_txns,  -- one value: grouping by it slows the plan
           percentile_cont(%(upgrade_count_percentile)s) WITHIN GROUP (ORDER BY txn_count) AS count_cut,
           percentile_cont(%(upgrade_weight_percentile)s) WITHIN GROUP (ORDER BY weight)
               FILTER (WHERE weight IS NOT NULL) AS weight_cut
    FROM upgrade_pair
    GROUP BY merchant
),
candidate AS (
    SELECT 'PatId1' AS pattern_id, 'UPGRADE' AS action_type, mc.customer, mc.merchant,
           jsonb_build_object('txn_count', mc.txn_count, 'count_cut', u.count_cut,
                              'weight', mc.weight, 'weight_cut', u.weight_cut,
                              'merchant_txns', u.merchant_txns) AS evidence
    FROM upgrade_cut u
    JOIN upgrade_pair mc ON mc.merchant = u.merchant
    WHERE mc.weight IS NOT NULL AND mc.txn_count >= u.count_cut AND mc.weight <= u.weight_cut
  UNION ALL
    SELECT 'PatId2', 'CHILD', mc.customer, mc.merchant,
           jsonb_build_object('txn_count', mc.txn_count, 'amount_sum', mc.amount_sum,
                              'mean_amount', round(mc.amount_sum / mc.txn_count, 6))
    FROM chunk_pair p
    JOIN txn.merchant_customer mc ON mc.merchant = p.merchant AND mc.customer = p.customer
    WHERE mc.txn_count >= %(child_min_txns)s
      AND mc.amount_sum < %(child_max_mean_amount)s * mc.txn_count  -- mean < cap, exactly
  UNION ALL
    SELECT 'PatId3', 'DEI-NEEDED', '', g.merchant,
           jsonb_build_object('female_customers', g.female, 'male_customers', g.male,
                              'customers', g.customers)
    FROM (
        SELECT mc.merchant, count(*) FILTER (WHERE mc.seen_female) AS female,
               count(*) FILTER (WHERE mc.seen_male) AS male, count(*) AS customers
        FROM touched t JOIN txn.merchant_customer mc ON mc.merchant = t.merchant
        GROUP BY mc.merchant
    ) g
    WHERE g.female > %(dei_min_female_customers)s AND g.female < g.male
),
fresh AS (
    SELECT c.* FROM candidate c
    WHERE NOT EXISTS (
        SELECT 1 FROM txn.detection d
        WHERE d.pattern_id = c.pattern_id AND d.merchant = c.merchant AND d.customer = c.customer
    )
)
INSERT INTO txn.detection
    (seq, chunk_index, pattern_id, action_type, customer, merchant, detected_at, evidence)
SELECT %(first_seq)s + row_number() OVER (ORDER BY pattern_id, merchant, customer) - 1,
       %(chunk_index)s, pattern_id, action_type, customer, merchant, %(detected_at)s, evidence
FROM fresh
RETURNING seq
"""
NEXT_SEQ = "SELECT coalesce(max(seq) + 1, 0) FROM txn.detection"
RECORD_APPLIED = """
INSERT INTO txn.applied_chunk
    (chunk_index, content_md5, valid_rows, quarantined_rows, detections, detections_total, applied_at,
     female_rows, male_rows, neither_rows, unknown_gender_rows, stage_seconds)
VALUES (%(chunk_index)s, %(content_md5)s, %(valid_rows)s, %(quarantined_rows)s, %(detections)s,
        %(detections_total)s, %(applied_at)s, %(female_rows)s, %(male_rows)s, %(neither_rows)s,
        %(unknown_gender_rows)s, %(stage_seconds)s)
"""
RECORD_REJECTED = """
INSERT INTO txn.applied_chunk
    (chunk_index, content_md5, valid_rows, quarantined_rows, detections, detections_total, applied_at,
     status, reason)
VALUES (%(chunk_index)s, %(content_md5)s, 0, %(quarantined_rows)s, 0, %(detections_total)s,
        %(applied_at)s, 'rejected', %(reason)s)
"""
DETECTIONS_OF_CHUNK = """
SELECT seq, chunk_index, pattern_id, action_type, customer, merchant, detected_at
FROM txn.detection WHERE chunk_index = %(chunk_index)s ORDER BY seq
"""
START_STREAM = """
UPDATE txn.stream SET rules = %(rules)s, y_start_time = coalesce(y_start_time, %(now)s)
WHERE stream_id = 1
"""

STREAM_WEIGHTS = "SELECT importance_md5 FROM txn.stream WHERE stream_id = 1"
WEIGHT_PAIRS = "SELECT count(*) FROM txn.customer_weight"

CREATE_WEIGHT_STAGE = """
CREATE TEMP TABLE weight_stage (
    customer text NOT NULL, merchant text NOT NULL, weight_sum numeric NOT NULL, weight_rows bigint NOT NULL
) ON COMMIT DROP
"""
WEIGHT_STAGE_COLUMNS = ["customer", "merchant", "weight_sum", "weight_rows"]
COPY_WEIGHT_STAGE = f"COPY weight_stage ({', '.join(WEIGHT_STAGE_COLUMNS)}) FROM STDIN (FORMAT csv, ENCODING 'UTF8')"
INSERT_WEIGHTS = """
INSERT INTO txn.customer_weight (merchant, customer, weight_sum, weight_rows)
SELECT merchant, customer, weight_sum, weight_rows FROM weight_stage
"""
RECORD_WEIGHTS = """
UPDATE txn.stream SET importance_md5 = %(md5)s, weights_loaded_at = %(now)s WHERE stream_id = 1
"""

REJECTED_CHUNK = """
SELECT status FROM txn.applied_chunk WHERE chunk_index = %(chunk_index)s FOR UPDATE
"""
FINAL_FILE_WRITTEN = "SELECT EXISTS (SELECT 1 FROM txn.detection_file WHERE rows < 50)"
DELETE_CHUNK_QUARANTINE = "DELETE FROM txn.quarantine WHERE chunk_index = %(chunk_index)s"
RECORD_REAPPLIED = """
UPDATE txn.applied_chunk SET status = 'applied', valid_rows = %(valid_rows)s,
    quarantined_rows = %(quarantined_rows)s, detections = %(detections)s,
    reapplied_at = %(applied_at)s, female_rows = %(female_rows)s, male_rows = %(male_rows)s,
    neither_rows = %(neither_rows)s, unknown_gender_rows = %(unknown_gender_rows)s
WHERE chunk_index = %(chunk_index)s
"""
