-- Where each chunk's time went, for the benchmark and the report: its share of the batch's Spark
-- action, the merge + detection, and the quarantine + ledger writes (seconds).
ALTER TABLE txn.applied_chunk ADD COLUMN stage_seconds jsonb;
