-- Detection state: everything Mechanism Y needs to fold chunks in exactly once.
-- All tables live in schema txn; Dagster's own storage uses public.

CREATE SCHEMA txn;

-- One row: this database holds one stream (one pass over one source file).
CREATE TABLE txn.stream (
    stream_id        smallint PRIMARY KEY DEFAULT 1 CHECK (stream_id = 1),
    rules            text,          -- DetectionRules.fingerprint(), fixed at the first chunk
    y_start_time     timestamptz,   -- when Mechanism Y first applied a chunk; on every detection row
    importance_md5   text,          -- checksum of the CustomerImportance file the weights came from
    weights_loaded_at timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO txn.stream (stream_id) VALUES (1);

-- w(c, m) = weight_sum / weight_rows over all CustomerImportance rows of the pair.
CREATE TABLE txn.customer_weight (
    merchant    text    NOT NULL,
    customer    text    NOT NULL,
    weight_sum  numeric NOT NULL,
    weight_rows bigint  NOT NULL CHECK (weight_rows > 0),
    weight      double precision GENERATED ALWAYS AS ((weight_sum / weight_rows)::double precision) STORED,
    PRIMARY KEY (merchant, customer)
);

-- Cumulative per (merchant, customer) over all applied chunks.
CREATE TABLE txn.merchant_customer (
    merchant    text    NOT NULL,
    customer    text    NOT NULL,
    txn_count   bigint  NOT NULL,
    amount_sum  numeric NOT NULL,
    seen_female boolean NOT NULL,  -- a row of this pair had gender F
    seen_male   boolean NOT NULL,  -- a row of this pair had gender M
    PRIMARY KEY (merchant, customer)
);

-- Cumulative transactions per merchant (UPGRADE's volume gate).
CREATE TABLE txn.merchant (
    merchant  text   PRIMARY KEY,
    txn_count bigint NOT NULL
);

-- Chunks folded into the state, in order; the ledger that makes a rerun a no-op.
CREATE TABLE txn.applied_chunk (
    chunk_index      integer PRIMARY KEY CHECK (chunk_index >= 0),
    content_md5      text        NOT NULL,
    valid_rows       integer     NOT NULL,
    quarantined_rows integer     NOT NULL,
    detections       integer     NOT NULL,
    detections_total bigint      NOT NULL,  -- detections emitted through this chunk
    applied_at       timestamptz NOT NULL
);

-- Rows that could not be used, with where they came from and why.
CREATE TABLE txn.quarantine (
    id          bigserial PRIMARY KEY,
    source      text    NOT NULL CHECK (source IN ('transactions', 'importance')),
    chunk_index integer,            -- null for importance rows
    row_number  bigint  NOT NULL,   -- 1-based data row within the chunk (or importance file)
    reason      text    NOT NULL,
    raw_line    text
);
CREATE INDEX quarantine_chunk ON txn.quarantine (chunk_index);

-- Every detection, once: seq is its dense position in detection order (file = seq / 50).
CREATE TABLE txn.detection (
    seq          bigint  PRIMARY KEY CHECK (seq >= 0),
    chunk_index  integer NOT NULL REFERENCES txn.applied_chunk (chunk_index) DEFERRABLE INITIALLY DEFERRED,
    pattern_id   text    NOT NULL,
    action_type  text    NOT NULL,
    customer     text    NOT NULL,  -- '' where the pattern has no customer (DEI-NEEDED)
    merchant     text    NOT NULL,
    detected_at  timestamptz NOT NULL,
    UNIQUE (pattern_id, merchant, customer)
);
CREATE INDEX detection_chunk ON txn.detection (chunk_index);

-- Detection files written to the output store, each exactly once.
CREATE TABLE txn.detection_file (
    file_number integer PRIMARY KEY CHECK (file_number >= 0),
    path        text    NOT NULL UNIQUE,
    first_seq   bigint  NOT NULL,
    last_seq    bigint  NOT NULL,
    rows        integer NOT NULL,
    md5         text    NOT NULL,
    written_at  timestamptz NOT NULL
);
