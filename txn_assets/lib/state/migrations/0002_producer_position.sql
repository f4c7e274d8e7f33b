-- Mechanism X's position in the source, so that a restart resumes with no gap and no duplicate.

CREATE TABLE txn.producer (
    stream_id    smallint PRIMARY KEY DEFAULT 1 CHECK (stream_id = 1),
    source_name  text    NOT NULL,
    source_size  bigint  NOT NULL,  -- identity of the source at stream start: a change stops X
    source_md5   text    NOT NULL,
    chunk_rows   integer NOT NULL CHECK (chunk_rows > 0),
    header       text    NOT NULL,
    next_chunk   integer NOT NULL,  -- the chunk the next tick cuts
    next_offset  bigint  NOT NULL,  -- byte offset of its first data row
    next_row     bigint  NOT NULL,  -- 0-based data row index of its first row
    ended        boolean NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL DEFAULT now()
);

-- Every staged chunk with the exact byte range it came from: reruns re-cut identical bytes.
CREATE TABLE txn.staged_chunk (
    chunk_index integer PRIMARY KEY CHECK (chunk_index >= 0),
    byte_start  bigint  NOT NULL,
    byte_end    bigint  NOT NULL,
    first_row   bigint  NOT NULL,
    rows        integer NOT NULL,
    md5         text    NOT NULL,
    staged_key  text    NOT NULL,
    staged_at   timestamptz NOT NULL DEFAULT now()
);
