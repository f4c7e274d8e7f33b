-- Evidence: the numbers that made each detection true at the chunk that emitted it, stored with
-- the detection when it is emitted (the report shows them; the detection files never do).
--   UPGRADE:    txn_count, count_cut, weight, weight_cut, merchant_txns
--   CHILD:      txn_count, amount_sum, mean_amount (rounded to 6 decimal places)
--   DEI-NEEDED: female_customers, male_customers, customers
-- Null for detections emitted before this migration.
ALTER TABLE txn.detection ADD COLUMN evidence jsonb;
