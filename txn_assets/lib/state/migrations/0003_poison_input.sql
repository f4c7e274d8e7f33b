-- Poison input: unusable rows keep their exact bytes, and a chunk that cannot be read at all is
-- recorded as rejected (with the reason) instead of stopping the stream.

-- The raw line as bytes: NUL bytes and invalid UTF-8 cannot live in a text column.
ALTER TABLE txn.quarantine ALTER COLUMN raw_line TYPE bytea USING convert_to(raw_line, 'UTF8');
ALTER TABLE txn.quarantine RENAME COLUMN raw_line TO raw_bytes;

ALTER TABLE txn.applied_chunk
    ADD COLUMN status text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'rejected')),
    ADD COLUMN reason text,  -- why a chunk was rejected (kept once it is re-applied)
    ADD COLUMN reapplied_at timestamptz,  -- a rejected chunk applied later, once repaired
    -- Rows by gender code among the valid rows: E and U count as neither, others are unknown.
    ADD COLUMN female_rows integer NOT NULL DEFAULT 0,
    ADD COLUMN male_rows integer NOT NULL DEFAULT 0,
    ADD COLUMN neither_rows integer NOT NULL DEFAULT 0,
    ADD COLUMN unknown_gender_rows integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT rejected_has_reason CHECK (status <> 'rejected' OR reason IS NOT NULL);
