-- omenhnsw operator classes for sparsevec: the index keeps each value's
-- indices and values, and its scans return exactly the order and distances
-- of the operators, for a few dimensions (codes of every dimension) and for
-- a million (codes from a hashing sketch).
CREATE TABLE sv (id int, v sparsevec(20));
INSERT INTO sv SELECT i, ARRAY(SELECT CASE WHEN sin(i * 0.7 * j) > 0.2
	THEN sin(i * 0.37 * j + j) * 3 ELSE 0 END FROM generate_series(1, 20) j)::sparsevec
FROM generate_series(1, 300) i;
INSERT INTO sv VALUES (301, '{}/20'), (302, NULL);
-- a million dimensions, 3 to 7 non-zeros a row among 200 indices
CREATE TABLE svb (id int, v sparsevec(1000000));
INSERT INTO svb SELECT i, ('{' || (SELECT string_agg(idx || ':' || x, ',' ORDER BY idx)
	FROM (SELECT 1 + ((i * 37 + k * 101) % 200) * 4999 AS idx,
		round((sin(i * k + k) * 2)::numeric, 5) AS x
		FROM generate_series(1, 3 + i % 5) k) s) || '}/1000000')::sparsevec
FROM generate_series(1, 300) i;
INSERT INTO svb VALUES (301, '{}/1000000'), (302, NULL);
CREATE INDEX sv_l2 ON sv USING omenhnsw (v sparsevec_l2_ops);
CREATE INDEX sv_ip ON sv USING omenhnsw (v sparsevec_ip_ops);
CREATE INDEX sv_cos ON sv USING omenhnsw (v sparsevec_cosine_ops);
CREATE INDEX sv_l1 ON sv USING omenhnsw (v sparsevec_l1_ops);
CREATE INDEX svb_l2 ON svb USING omenhnsw (v sparsevec_l2_ops);
CREATE INDEX svb_ip ON svb USING omenhnsw (v sparsevec_ip_ops);
CREATE INDEX svb_cos ON svb USING omenhnsw (v sparsevec_cosine_ops);
CREATE INDEX svb_l1 ON svb USING omenhnsw (v sparsevec_l1_ops);
-- the build estimate of a table sizes its vectors by a value's non-zeros,
-- the estimate of a row count by the most an index takes
SELECT t.index_bytes BETWEEN 0.5 * pg_relation_size('svb_l2')
		AND 2 * pg_relation_size('svb_l2') AS estimate_near,
	t.index_bytes < n.index_bytes AS below_most
FROM omenhnsw_build_estimate('svb', 'v', 16, 'sparsevec_l2_ops') t,
	omenhnsw_build_estimate(302, 1000000, 16, 'sparsevec_l2_ops') n;
-- rows after the build go through inserts, with copies (and under cosine
-- scaled copies) of rows already there
INSERT INTO sv SELECT i, ARRAY(SELECT CASE WHEN cos(i * 0.9 * j) > 0.4
	THEN cos(i * 0.29 * j - j) * 3 ELSE 0 END FROM generate_series(1, 20) j)::sparsevec
FROM generate_series(303, 400) i;
INSERT INTO sv SELECT id + 1000, v FROM sv WHERE id BETWEEN 10 AND 14;
INSERT INTO sv SELECT i + 2000, ARRAY(SELECT CASE WHEN sin(i * 0.7 * j) > 0.2
	THEN sin(i * 0.37 * j + j) * 3 * 2 ELSE 0 END FROM generate_series(1, 20) j)::sparsevec
FROM generate_series(15, 19) i;
INSERT INTO svb SELECT id + 1000, v FROM svb WHERE id BETWEEN 200 AND 298 AND id % 2 = 0;
-- a sum of squares past float4's range: <=> is 1 whatever the direction
INSERT INTO sv VALUES (3001, '{1:-3e19,2:-3e19,3:-3e19,4:-3e19}/20');
ANALYZE sv, svb;
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname ~ '^svb?_' AND c.relkind = 'i';

-- each operator picks the index of its operator class
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY v <-> '{1:1}/20' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY v <#> '{1:1}/20' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY v <=> '{1:1}/20' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM sv ORDER BY v <+> '{1:1}/20' LIMIT 5;
RESET enable_seqscan;

-- The k nearest by the index and by a sequential scan: their distances,
-- in order (copies tie, so rows are not compared).  With ef_search above the row count every node is re-ranked,
-- so the index's order must be the exact one.
CREATE FUNCTION sv_knn(tbl text, op text, q sparsevec, k int, useindex bool)
RETURNS TABLE (ids int[], dists float8[]) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', (NOT useindex)::text, true);
	PERFORM set_config('enable_indexscan', useindex::text, true);
	RETURN QUERY EXECUTE format(
		'SELECT array_agg(id), array_agg(d) FROM
			(SELECT id, v %s $1 AS d FROM %I ORDER BY v %s $1 LIMIT %s) s',
		op, tbl, op, k) USING q;
END
$$;
CREATE TABLE sv_queries (tbl text, qid int, q sparsevec);
INSERT INTO sv_queries VALUES ('sv', 1, '{1:1,2:2,3:3,4:4,5:5,6:6,7:7,8:8}/20'),
	('sv', 2, '{1:-1,2:0.5,4:2,5:-3,6:1,7:1,20:2.5}/20'),
	('sv', 3, '{11:0.1,12:0.1,13:0.1,19:-0.1}/20'),
	('svb', 1, '{1:1,4020:-1,85981:0.5,989011:2}/1000000'),
	('svb', 2, '{1:0.3,5000:0.2,10000:0.1,120000:-0.7,500000:1.5}/1000000'),
	('svb', 3, '{999999:4}/1000000');
INSERT INTO sv_queries SELECT 'svb', 4, v FROM svb WHERE id = 77;
INSERT INTO sv_queries VALUES ('svb', 5, '{}/1000000');
SET omenhnsw.ef_search = 500;
SELECT tbl, op, qid, i.dists = s.dists AS same_order, array_length(i.ids, 1) AS n
FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, sv_queries,
	LATERAL sv_knn(tbl, op, q, 25, true) i, LATERAL sv_knn(tbl, op, q, 25, false) s
ORDER BY tbl, op, qid;

-- Whole-table order: every row with a distance comes back once, in the
-- operator's order; NULL never, and under cosine not the zero vector, which
-- has no direction: the sequential scan sorts their NULL and NaN distances
-- last
SELECT tbl, op, i.dists = s.dists[1:array_length(i.dists, 1)] AS same_order,
	array_length(i.ids, 1) AS n, s.dists[array_length(i.dists, 1) + 1:] AS rest
FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, sv_queries,
	LATERAL sv_knn(tbl, op, q, 1000, true) i, LATERAL sv_knn(tbl, op, q, 1000, false) s
WHERE qid = 1
ORDER BY tbl, op;
SELECT count(*) AS sv_rows_with_v FROM sv WHERE v IS NOT NULL;
SELECT count(*) AS svb_rows_with_v FROM svb WHERE v IS NOT NULL;

-- the bound: a distance filter stops the scan there, same rows as exact
SET enable_seqscan = off;
SELECT count(*) AS within FROM (SELECT id FROM svb
	WHERE v <-> '{1:1,4020:-1,85981:0.5,989011:2}/1000000' < 3
	ORDER BY v <-> '{1:1,4020:-1,85981:0.5,989011:2}/1000000' LIMIT 1000) s;
RESET enable_seqscan;
SELECT count(*) AS within_exact FROM svb
WHERE v <-> '{1:1,4020:-1,85981:0.5,989011:2}/1000000' < 3;

-- iterative scans: a filter that keeps few rows still gets its LIMIT, in
-- order, at a small ef_search
SET omenhnsw.ef_search = 10;
SET enable_seqscan = off;
SET omenhnsw.iterative_scan = strict_order;
SELECT count(*) AS strict_rows, bool_and(d >= coalesce(prev, d)) AS ascending FROM (
	SELECT d, lag(d) OVER (ORDER BY n) AS prev FROM (
		SELECT v <-> '{1:1,4020:-1,85981:0.5,989011:2}/1000000' AS d,
			row_number() OVER () AS n
		FROM (SELECT v FROM svb WHERE id % 10 = 0
			ORDER BY v <-> '{1:1,4020:-1,85981:0.5,989011:2}/1000000' LIMIT 20) a) b) c;
SET omenhnsw.iterative_scan = relaxed_order;
SELECT count(*) AS relaxed_rows FROM (SELECT id FROM svb WHERE id % 10 = 0
	ORDER BY v <=> '{1:1,4020:-1,85981:0.5,989011:2}/1000000' LIMIT 20) s;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;

-- NULL and zero queries: no distances, every indexed row comes back once
SELECT count(*) AS null_query, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM svb ORDER BY v <-> NULL) s;
SELECT count(*) AS zero_cosine_query
FROM (SELECT id FROM svb ORDER BY v <=> '{}/1000000') s;
RESET enable_seqscan;

-- wrong dimensions
SET enable_seqscan = off;
SELECT id FROM svb ORDER BY v <-> '{1:1}/999999' LIMIT 1;
RESET enable_seqscan;
CREATE TABLE sv_any (v sparsevec);
CREATE INDEX sv_any_l2 ON sv_any USING omenhnsw (v sparsevec_l2_ops);
INSERT INTO sv_any VALUES ('{1:1,3:2}/3');
INSERT INTO sv_any VALUES ('{1:1}/2');
DROP TABLE sv_any;

-- The most non-zeros an index holds, 7,999 (pgvector's hnsw holds 1,000),
-- and one more, from a build and from an insert; a query may have more
CREATE TABLE sv_nnz (id int, v sparsevec(100000));
INSERT INTO sv_nnz SELECT i, ('{' || (SELECT string_agg(k * 12 + i || ':' || (k % 5 + i), ',')
	FROM generate_series(1, 7999) k) || '}/100000')::sparsevec FROM generate_series(1, 3) i;
INSERT INTO sv_nnz VALUES (4, '{1:1}/100000');
CREATE INDEX sv_nnz_cos ON sv_nnz USING omenhnsw (v sparsevec_cosine_ops);
INSERT INTO sv_nnz SELECT 5, ('{' || string_agg(k * 12 + 5 || ':1', ',') || '}/100000')::sparsevec
FROM generate_series(1, 7999) k;
SELECT * FROM omenhnsw_verify('sv_nnz_cos');
SET enable_seqscan = off;
SELECT id, v <=> (SELECT v FROM sv_nnz WHERE id = 2) AS d FROM sv_nnz
ORDER BY v <=> (SELECT v FROM sv_nnz WHERE id = 2) LIMIT 1;
SELECT id, v <-> (SELECT v FROM sv_nnz WHERE id = 5) AS d FROM sv_nnz
ORDER BY v <=> (SELECT v FROM sv_nnz WHERE id = 5) LIMIT 1;
SELECT id FROM sv_nnz ORDER BY v <=> ('{' || (SELECT string_agg(k * 6 + 2 || ':1', ',')
	FROM generate_series(1, 16000) k) || '}/100000')::sparsevec LIMIT 1;
RESET enable_seqscan;
INSERT INTO sv_nnz SELECT 6, ('{' || string_agg(k * 12 || ':1', ',') || '}/100000')::sparsevec
FROM generate_series(1, 8000) k;
DROP INDEX sv_nnz_cos;
INSERT INTO sv_nnz SELECT 6, ('{' || string_agg(k * 12 || ':1', ',') || '}/100000')::sparsevec
FROM generate_series(1, 8000) k;
CREATE INDEX sv_nnz_l2 ON sv_nnz USING omenhnsw (v sparsevec_l2_ops);
DROP TABLE sv_nnz;

-- VACUUM after deletes keeps the index whole and the order exact
DELETE FROM sv WHERE id % 3 = 0;
DELETE FROM svb WHERE id % 3 = 0;
VACUUM sv, svb;
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname ~ '^svb?_' AND c.relkind = 'i';
SET omenhnsw.ef_search = 500;
SELECT tbl, op, bool_and(i.dists = s.dists) AS same_order
FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, sv_queries,
	LATERAL sv_knn(tbl, op, q, 25, true) i, LATERAL sv_knn(tbl, op, q, 25, false) s
GROUP BY tbl, op ORDER BY tbl, op;
RESET omenhnsw.ef_search;
DROP TABLE sv, svb, sv_queries;
DROP FUNCTION sv_knn;
