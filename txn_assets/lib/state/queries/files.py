"""SQL of the detection files: what to cut, and the record of each file written."""

FILE_PLAN = """
SELECT a.detections_total, s.y_start_time, (SELECT max(chunk_index) FROM txn.applied_chunk)
FROM txn.applied_chunk a, txn.stream s WHERE a.chunk_index = %(through_chunk)s
"""
WRITTEN_FILE_NUMBERS = "SELECT file_number FROM txn.detection_file"
DETECTIONS_IN_RANGE = """
SELECT seq, chunk_index, pattern_id, action_type, customer, merchant, detected_at
FROM txn.detection WHERE seq >= %(first)s AND seq < %(stop)s ORDER BY seq
"""
RECORD_FILE = """
INSERT INTO txn.detection_file (file_number, path, first_seq, last_seq, rows, md5, written_at)
VALUES (%(file_number)s, %(path)s, %(first_seq)s, %(last_seq)s, %(rows)s, %(md5)s, %(written_at)s)
ON CONFLICT (file_number) DO NOTHING
"""
FILE_RECORDS = """
SELECT file_number, path, first_seq, last_seq, rows, md5 FROM txn.detection_file ORDER BY file_number
"""
FILE_TOTALS = "SELECT count(*), coalesce(sum(rows), 0) FROM txn.detection_file"
DETECTION_COUNT = "SELECT count(*) FROM txn.detection"
UNFILED_DETECTIONS = """
SELECT d.seq, a.applied_at FROM txn.detection d JOIN txn.applied_chunk a USING (chunk_index)
WHERE d.seq >= %(covered)s ORDER BY d.seq
"""
ALL_DETECTIONS = """
SELECT seq, chunk_index, pattern_id, action_type, customer, merchant, detected_at
FROM txn.detection ORDER BY seq
"""
Y_START_TIME = "SELECT y_start_time FROM txn.stream WHERE stream_id = 1"
