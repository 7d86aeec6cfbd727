-- omenhnsw_search(): the query vector, with search settings that omendb's
-- planner applies, as SET LOCAL would, to the query that calls it.
SELECT omenhnsw_search('[1,2,3]', 77, 'off', 123);
SELECT omenhnsw_search(NULL, 77, 'off', 123) IS NULL AS null_query;
SELECT omenhnsw_search('[1,2,3]', NULL, NULL, NULL);

BEGIN;
SELECT omenhnsw_search('[1,2,3]', 77, 'relaxed_order', 123);
SHOW omenhnsw.ef_search;
SHOW omenhnsw.iterative_scan;
SHOW omenhnsw.max_scan_tuples;
COMMIT;
-- only for the rest of the transaction
SHOW omenhnsw.ef_search;
SHOW omenhnsw.iterative_scan;
SHOW omenhnsw.max_scan_tuples;

-- in a subquery too
BEGIN;
SELECT (SELECT omenhnsw_search('[1]', 5, 'strict_order', 10)) AS q;
SHOW omenhnsw.ef_search;
ROLLBACK;

-- settings that are not constants are not applied
BEGIN;
SELECT omenhnsw_search('[1]', g, 'off', 10) FROM generate_series(7, 7) g;
SHOW omenhnsw.ef_search;
SHOW omenhnsw.iterative_scan;
ROLLBACK;

-- invalid settings are errors
SELECT omenhnsw_search('[1,2,3]', 0, 'off', 123);
SELECT omenhnsw_search('[1,2,3]', 40, 'sideways', 123);
SELECT omenhnsw_search('[1,2,3]', 40, 'off', 0);

-- applied to the scan of the query: without iterative scans an ordered
-- scan returns at most ef_search rows
CREATE TABLE s (id int, v vector(2));
INSERT INTO s SELECT g, ARRAY[g % 17, g % 23]::real[] FROM generate_series(1, 500) g;
CREATE INDEX ON s USING omenhnsw (v vector_l2_ops);
SET enable_seqscan = off;
SELECT count(*) < 50 AS stopped_early FROM (SELECT id FROM s ORDER BY v <-> omenhnsw_search('[3,4]', 5, 'off', 20000) LIMIT 50) x;
SELECT count(*) FROM (SELECT id FROM s ORDER BY v <-> '[3,4]' LIMIT 50) x;
RESET enable_seqscan;
DROP TABLE s;
