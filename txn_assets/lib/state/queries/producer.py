"""SQL of Mechanism X: its position in the source and the ledger of staged chunks."""

LOCK_PRODUCER = """
SELECT source_name, source_size, source_md5, chunk_rows, header, next_chunk, next_offset, next_row, ended
FROM txn.producer WHERE stream_id = 1 FOR UPDATE
"""
START_PRODUCER = """
INSERT INTO txn.producer (source_name, source_size, source_md5, chunk_rows, header, next_chunk, next_offset, next_row)
VALUES (%(name)s, %(size)s, %(md5)s, %(chunk_rows)s, %(header)s, 0, %(offset)s, 0)
ON CONFLICT (stream_id) DO NOTHING
"""
ADVANCE_PRODUCER = """
UPDATE txn.producer SET next_chunk = %(next_chunk)s, next_offset = %(next_offset)s,
    next_row = %(next_row)s, ended = %(ended)s WHERE stream_id = 1
"""
# staged_at is the moment the chunk's bytes are in the store (not the transaction's start).
RECORD_STAGED = """
INSERT INTO txn.staged_chunk (chunk_index, byte_start, byte_end, first_row, rows, md5, staged_key, staged_at)
VALUES (%(index)s, %(start)s, %(end)s, %(first_row)s, %(rows)s, %(md5)s, %(key)s, clock_timestamp())
ON CONFLICT (chunk_index) DO NOTHING
"""
# Delivered when the cut commits: Mechanism Y's automation wakes up instead of polling.
CHUNK_STAGED_CHANNEL = "txn_chunk_staged"
NOTIFY_STAGED = f"NOTIFY {CHUNK_STAGED_CHANNEL}"
LISTEN_STAGED = f"LISTEN {CHUNK_STAGED_CHANNEL}"
STAGED_CHUNK = """
SELECT chunk_index, byte_start, byte_end, rows, md5, staged_key
FROM txn.staged_chunk WHERE chunk_index = %(index)s
"""
STAGED_CHUNKS_THROUGH = """
SELECT chunk_index, byte_start, byte_end, rows, md5, staged_key
FROM txn.staged_chunk WHERE chunk_index <= %(last)s ORDER BY chunk_index
"""
PRODUCER = """
SELECT source_name, source_size, source_md5, chunk_rows, header, next_chunk, next_offset, next_row, ended
FROM txn.producer WHERE stream_id = 1
"""
PRODUCER_HEADER = "SELECT header FROM txn.producer WHERE stream_id = 1"
