-- omenhnsw: TRUNCATE, REINDEX, CREATE INDEX CONCURRENTLY, VACUUM and updates
-- keep the index sound (omenhnsw_verify) and answering exactly (a few hundred
-- rows and ef_search 1000, so every search is exhaustive)
CREATE TABLE d (id int, v vector(4));
SET enable_seqscan = off;
SET omenhnsw.ef_search = 1000;
INSERT INTO d SELECT i, ARRAY[i % 10, i / 10, (i * 7) % 11, (i * 3) % 5]
FROM generate_series(1, 200) i;
CREATE INDEX d_idx ON d USING omenhnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
ANALYZE d;

-- 'exact <n>' when the index returns all n rows in exact distance order
CREATE FUNCTION d_check(q vector) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN i.a = s.a THEN 'exact ' ELSE 'WRONG ' END || cardinality(i.a)
	FROM (SELECT array(SELECT v <-> q FROM d ORDER BY v <-> q LIMIT 1000) AS a) i,
		(SELECT array(SELECT v <-> q FROM d ORDER BY (v <-> q) + 0 LIMIT 1000) AS a) s
$$;
CREATE TABLE dq (q vector(4));
INSERT INTO dq VALUES ('[0,0,0,0]'), ('[5,10,5,2]'), ('[9.5,19.5,10,4]'), ('[-3,4,-5,6]');

EXPLAIN (COSTS OFF) SELECT id FROM d ORDER BY v <-> '[5,10,5,2]' LIMIT 10;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');

-- TRUNCATE empties the index; it is filled again by inserts
TRUNCATE d;
SELECT id FROM d ORDER BY v <-> '[0,0,0,0]' LIMIT 5;
INSERT INTO d SELECT i, ARRAY[i % 10, i / 10, (i * 7) % 11, (i * 3) % 5]
FROM generate_series(1, 200) i;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
-- TRUNCATE in a transaction that rolls back keeps the old index
BEGIN;
TRUNCATE d;
INSERT INTO d VALUES (1, '[1,1,1,1]');
SELECT id FROM d ORDER BY v <-> '[0,0,0,0]' LIMIT 5;
ROLLBACK;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');

-- REINDEX, plain and concurrent
REINDEX INDEX d_idx;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
REINDEX INDEX CONCURRENTLY d_idx;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
REINDEX TABLE d;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'd_idx'::regclass;

-- CREATE INDEX CONCURRENTLY, then inserts into it
DROP INDEX d_idx;
CREATE INDEX CONCURRENTLY d_idx ON d USING omenhnsw (v vector_l2_ops);
SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'd_idx'::regclass;
EXPLAIN (COSTS OFF) SELECT id FROM d ORDER BY v <-> '[5,10,5,2]' LIMIT 10;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
INSERT INTO d SELECT i, ARRAY[i % 7, i / 12, (i * 5) % 13, 2.5] FROM generate_series(201, 300) i;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');

-- VACUUM removes deleted rows from the index; the graph keeps answering
DELETE FROM d WHERE id % 2 = 0;
VACUUM d;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
INSERT INTO d SELECT i, ARRAY[i % 9, i / 11, (i * 3) % 7, -1] FROM generate_series(301, 400) i;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
-- non-HOT updates add new versions; VACUUM removes the old ones
UPDATE d SET v = v + '[0.5,0.5,0.5,0.5]' WHERE id % 3 = 0;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
VACUUM d;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
-- deleting everything and vacuuming leaves an empty, usable index
DELETE FROM d;
VACUUM d;
SELECT id FROM d ORDER BY v <-> '[0,0,0,0]' LIMIT 5;
INSERT INTO d SELECT i, ARRAY[i % 10, i / 10, (i * 7) % 11, (i * 3) % 5]
FROM generate_series(1, 150) i;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');
-- VACUUM FULL rebuilds the index
DELETE FROM d WHERE id > 100;
VACUUM FULL d;
SELECT d_check(q) FROM dq;
SELECT * FROM omenhnsw_verify('d_idx');

DROP TABLE d, dq;
DROP FUNCTION d_check(vector);
RESET enable_seqscan;
RESET omenhnsw.ef_search;
