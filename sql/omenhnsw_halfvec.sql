-- omenhnsw operator classes for halfvec: the index keeps half floats, and its
-- scans return exactly the order and distances of the operators.
CREATE TABLE hv (id int, v halfvec(8));
INSERT INTO hv SELECT i, ARRAY(SELECT sin(i * 0.37 * j + j) * 3 FROM generate_series(1, 8) j)
FROM generate_series(1, 300) i;
INSERT INTO hv VALUES (301, '[0,0,0,0,0,0,0,0]'), (302, NULL);
CREATE INDEX hv_l2 ON hv USING omenhnsw (v halfvec_l2_ops);
CREATE INDEX hv_ip ON hv USING omenhnsw (v halfvec_ip_ops);
CREATE INDEX hv_cos ON hv USING omenhnsw (v halfvec_cosine_ops);
CREATE INDEX hv_l1 ON hv USING omenhnsw (v halfvec_l1_ops);
-- rows after the build go through inserts
INSERT INTO hv SELECT i, ARRAY(SELECT cos(i * 0.29 * j - j) * 3 FROM generate_series(1, 8) j)
FROM generate_series(303, 400) i;
ANALYZE hv;
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname LIKE 'hv\_%' AND c.relkind = 'i';

-- each operator picks the index of its operator class
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <#> '[1,2,3,4,5,6,7,8]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM hv ORDER BY v <+> '[1,2,3,4,5,6,7,8]' LIMIT 5;
RESET enable_seqscan;

-- The k nearest by the index and by a sequential scan: their distances,
-- in order.  With ef_search above the row count every node is re-ranked,
-- so the index's order must be the exact one.
CREATE FUNCTION hv_knn(op text, q halfvec, k int, useindex bool)
RETURNS TABLE (ids int[], dists float8[]) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', (NOT useindex)::text, true);
	PERFORM set_config('enable_indexscan', useindex::text, true);
	RETURN QUERY EXECUTE format(
		'SELECT array_agg(id), array_agg(d) FROM
			(SELECT id, v %s $1 AS d FROM hv ORDER BY v %s $1 LIMIT %s) s',
		op, op, k) USING q;
END
$$;
CREATE TABLE hv_queries (qid int, q halfvec(8));
INSERT INTO hv_queries VALUES (1, '[1,2,3,4,5,6,7,8]'), (2, '[-1,0.5,0,2,-3,1,1,0]'),
	(3, '[0.1,0.1,0.1,0.1,0.1,0.1,0.1,-0.1]');
SET omenhnsw.ef_search = 500;
SELECT op, qid, i.dists = s.dists AS same_order, i.ids = s.ids AS same_rows,
	array_length(i.ids, 1) AS n
FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, hv_queries,
	LATERAL hv_knn(op, q, 25, true) i, LATERAL hv_knn(op, q, 25, false) s
ORDER BY op, qid;

-- Whole-table order: every row with a distance comes back once, in the
-- operator's order; NULL never, and under cosine not the zero vector, which
-- has no direction (as for vector_cosine_ops): the sequential scan sorts
-- their NULL and NaN distances last
SELECT op, i.dists = s.dists[1:array_length(i.dists, 1)] AS same_order,
	array_length(i.ids, 1) AS n, s.dists[array_length(i.dists, 1) + 1:] AS rest
FROM unnest(ARRAY['<->', '<=>']) op, LATERAL hv_knn(op, '[1,2,3,4,5,6,7,8]', 1000, true) i,
	LATERAL hv_knn(op, '[1,2,3,4,5,6,7,8]', 1000, false) s
ORDER BY op;
SELECT count(*) AS rows_with_v FROM hv WHERE v IS NOT NULL;

-- the bound: a distance filter stops the scan there, same rows as exact
SET enable_seqscan = off;
SELECT count(*) AS within FROM (SELECT id FROM hv WHERE v <-> '[1,2,3,4,5,6,7,8]' < 9
	ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 100) s;
RESET enable_seqscan;
SELECT count(*) AS within_exact FROM hv WHERE v <-> '[1,2,3,4,5,6,7,8]' < 9;

-- iterative scans: a filter that keeps few rows still gets its LIMIT, in
-- order, at a small ef_search
SET omenhnsw.ef_search = 10;
SET enable_seqscan = off;
SET omenhnsw.iterative_scan = strict_order;
SELECT count(*) AS strict_rows, bool_and(d >= coalesce(prev, d)) AS ascending FROM (
	SELECT d, lag(d) OVER (ORDER BY n) AS prev FROM (
		SELECT v <-> '[1,2,3,4,5,6,7,8]' AS d, row_number() OVER () AS n
		FROM (SELECT v FROM hv WHERE id % 10 = 0 ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 20) a) b) c;
SET omenhnsw.iterative_scan = relaxed_order;
SELECT count(*) AS relaxed_rows FROM (SELECT id FROM hv WHERE id % 10 = 0
	ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 20) s;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;

-- NULL and zero queries: no distances, every indexed row comes back once
SELECT count(*) AS null_query, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM hv ORDER BY v <-> NULL) s;
SELECT count(*) AS zero_cosine_query
FROM (SELECT id FROM hv ORDER BY v <=> '[0,0,0,0,0,0,0,0]') s;
RESET enable_seqscan;

-- wrong dimensions
SET enable_seqscan = off;
SELECT id FROM hv ORDER BY v <-> '[1,2,3]' LIMIT 1;
RESET enable_seqscan;
CREATE TABLE hv_any (v halfvec);
CREATE INDEX hv_any_l2 ON hv_any USING omenhnsw (v halfvec_l2_ops);
INSERT INTO hv_any VALUES ('[1,2,3]');
INSERT INTO hv_any VALUES ('[1,2]');
DROP TABLE hv_any;

-- the most dimensions halfvec has, and one more
CREATE TABLE hv_max (v halfvec(16000));
INSERT INTO hv_max SELECT array_fill(i::real / 7, ARRAY[16000]) FROM generate_series(1, 3) i;
CREATE INDEX hv_max_cos ON hv_max USING omenhnsw (v halfvec_cosine_ops);
INSERT INTO hv_max SELECT array_fill(-1::real, ARRAY[16000]);
SELECT * FROM omenhnsw_verify('hv_max_cos');
SET enable_seqscan = off;
SELECT v <=> array_fill(1::real, ARRAY[16000])::halfvec AS d FROM hv_max
ORDER BY v <=> array_fill(1::real, ARRAY[16000])::halfvec;
RESET enable_seqscan;
DROP TABLE hv_max;
CREATE TABLE hv_over (v halfvec(16001));

-- The widest halfvec whose halves can be its codes at m = 16 (codes =
-- 'halves': two rows to a page, no vector pages) and one element more
-- (4-bit codes, halves apart): both order exactly after a build and
-- inserts, and the wider one cannot have halves as codes
CREATE TABLE hv_edge (id int, a halfvec(1932), b halfvec(1933));
CREATE FUNCTION hv_edge_value(i int, n int) RETURNS real[] LANGUAGE sql AS
$$ SELECT ARRAY(SELECT sin(i * j * 0.013 + i) FROM generate_series(1, n) j)::real[] $$;
INSERT INTO hv_edge SELECT i, hv_edge_value(i, 1932), hv_edge_value(i, 1933)
FROM generate_series(1, 40) i;
CREATE INDEX hv_edge_a ON hv_edge USING omenhnsw (a halfvec_cosine_ops) WITH (codes = 'halves');
CREATE INDEX hv_edge_b ON hv_edge USING omenhnsw (b halfvec_cosine_ops);
\set VERBOSITY sqlstate
CREATE INDEX ON hv_edge USING omenhnsw (b halfvec_cosine_ops) WITH (codes = 'halves');
\set VERBOSITY default
CREATE INDEX ON hv_edge USING omenhnsw (b halfvec_cosine_ops) WITH (codes = 'halves');
INSERT INTO hv_edge SELECT i, hv_edge_value(i, 1932), hv_edge_value(i, 1933)
FROM generate_series(41, 70) i;
SELECT * FROM omenhnsw_verify('hv_edge_a');
SELECT * FROM omenhnsw_verify('hv_edge_b');
CREATE TABLE hv_edge_q AS
SELECT hv_edge_value(500, 1932)::halfvec(1932) AS a, hv_edge_value(500, 1933)::halfvec(1933) AS b;
CREATE FUNCTION hv_edge_knn(useindex bool, OUT a int[], OUT b int[])
LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', (NOT useindex)::text, true);
	PERFORM set_config('enable_indexscan', useindex::text, true);
	SELECT array_agg(id) INTO a FROM (SELECT id FROM hv_edge
		ORDER BY hv_edge.a <=> (SELECT q.a FROM hv_edge_q q) LIMIT 20) s;
	SELECT array_agg(id) INTO b FROM (SELECT id FROM hv_edge
		ORDER BY hv_edge.b <=> (SELECT q.b FROM hv_edge_q q) LIMIT 20) s;
END
$$;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hv_edge ORDER BY a <=> (SELECT a FROM hv_edge_q) LIMIT 20;
EXPLAIN (COSTS OFF) SELECT id FROM hv_edge ORDER BY b <=> (SELECT b FROM hv_edge_q) LIMIT 20;
RESET enable_seqscan;
SET omenhnsw.ef_search = 100;
SELECT i.a = s.a AS a_exact, i.b = s.b AS b_exact
FROM hv_edge_knn(true) i, hv_edge_knn(false) s;
RESET omenhnsw.ef_search;
-- rows of halves take half a page each; the others a sixth, and their
-- halves are apart
SELECT pg_relation_size('hv_edge_a') / 8192 AS a_pages, pg_relation_size('hv_edge_b') / 8192 AS b_pages;
DROP TABLE hv_edge, hv_edge_q;
DROP FUNCTION hv_edge_value, hv_edge_knn;

-- A column without a typmod, its index built empty: the first insert gives
-- the dimension (odd, so the halves do not fill the exact vector's last
-- word, nor the 4-bit codes their last byte), the codes are the halves or
-- 4-bit ones, and the order is exact
CREATE TABLE hv_odd (id int, v halfvec);
CREATE INDEX hv_odd_cos ON hv_odd USING omenhnsw (v halfvec_cosine_ops) WITH (codes = 'halves');
CREATE INDEX hv_odd_l2 ON hv_odd USING omenhnsw (v halfvec_l2_ops) WITH (m = 4);
INSERT INTO hv_odd SELECT i, ARRAY(SELECT cos(i * j * 0.7 + j) FROM generate_series(1, 7) j)
FROM generate_series(1, 120) i;
INSERT INTO hv_odd SELECT 1000 + id, v FROM hv_odd WHERE id % 10 = 0;
DELETE FROM hv_odd WHERE id % 7 = 0;
VACUUM hv_odd;
SELECT * FROM omenhnsw_verify('hv_odd_cos');
SELECT * FROM omenhnsw_verify('hv_odd_l2');
CREATE FUNCTION hv_odd_knn(op text, useindex bool) RETURNS int[] LANGUAGE plpgsql AS $$
DECLARE r int[];
BEGIN
	PERFORM set_config('enable_seqscan', (NOT useindex)::text, true);
	PERFORM set_config('enable_indexscan', useindex::text, true);
	EXECUTE format('SELECT array_agg(id ORDER BY n) FROM (SELECT id, row_number() OVER () AS n FROM
		(SELECT id FROM hv_odd ORDER BY v %s ''[0.3,-1,0.5,0.2,0,-0.4,1]'', id LIMIT 15) s) t', op)
		INTO r;
	RETURN r;
END
$$;
SET omenhnsw.ef_search = 200;
SELECT op, hv_odd_knn(op, true) = hv_odd_knn(op, false) AS same_rows
FROM unnest(ARRAY['<=>', '<->']) op;
RESET omenhnsw.ef_search;
DROP TABLE hv_odd;
DROP FUNCTION hv_odd_knn;

-- codes = 'halves' where the first insert brings too many dimensions, on
-- another type, and an unknown value; 'auto' is the default
CREATE TABLE hv_wide (v halfvec);
CREATE INDEX hv_wide_idx ON hv_wide USING omenhnsw (v halfvec_l2_ops) WITH (codes = 'halves');
\set VERBOSITY sqlstate
INSERT INTO hv_wide SELECT array_fill(1::real, ARRAY[3000]);
\set VERBOSITY default
INSERT INTO hv_wide SELECT array_fill(1::real, ARRAY[3000]);
INSERT INTO hv_wide SELECT array_fill(1::real, ARRAY[1000]);
SELECT count(*) FROM hv_wide;
SELECT * FROM omenhnsw_verify('hv_wide_idx');
DROP TABLE hv_wide;
CREATE TABLE hv_opt (v vector(3), h halfvec(3));
\set VERBOSITY sqlstate
CREATE INDEX ON hv_opt USING omenhnsw (v vector_l2_ops) WITH (codes = 'halves');
CREATE INDEX ON hv_opt USING omenhnsw (h halfvec_l2_ops) WITH (codes = 'bits');
\set VERBOSITY default
CREATE INDEX ON hv_opt USING omenhnsw (v vector_l2_ops) WITH (codes = 'halves');
CREATE INDEX ON hv_opt USING omenhnsw (h halfvec_l2_ops) WITH (codes = 'bits');
CREATE INDEX hv_opt_auto ON hv_opt USING omenhnsw (h halfvec_l2_ops) WITH (codes = 'auto');
SELECT reloptions FROM pg_class WHERE relname = 'hv_opt_auto';
DROP TABLE hv_opt;

-- VACUUM after deletes keeps the index whole and the order exact
DELETE FROM hv WHERE id % 3 = 0;
VACUUM hv;
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname LIKE 'hv\_%' AND c.relkind = 'i';
SET omenhnsw.ef_search = 500;
SELECT op, bool_and(i.dists = s.dists) AS same_order
FROM unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op, hv_queries,
	LATERAL hv_knn(op, q, 25, true) i, LATERAL hv_knn(op, q, 25, false) s
GROUP BY op ORDER BY op;
RESET omenhnsw.ef_search;

-- Rows of integers from 0 to 15 (each with both) have codes that are the
-- rows themselves, so that their lower bounds are their code distances.  A
-- query whose step is coarse (one element of 200) but no coarser than the
-- codes' is searched with its quantization; the nodes found are still ranked
-- from the query's own distances to their codes, and so come back in the
-- order of a sequential scan
CREATE TABLE hv_grid (id int, v halfvec(16));
INSERT INTO hv_grid SELECT i, ARRAY(SELECT CASE j WHEN 1 THEN 0 WHEN 2 THEN 15
	ELSE (i * 7 + j * j * 3 + (i / 16) * j) % 16 END FROM generate_series(1, 16) j)
FROM generate_series(1, 2000) i;
CREATE INDEX hv_grid_idx ON hv_grid USING omenhnsw (v halfvec_l2_ops);
CREATE TEMP TABLE hv_grid_q AS
SELECT k AS qid, ARRAY(SELECT CASE j WHEN 3 THEN 200 ELSE ((k * 13 + j * 29) % 97) * 0.1537 END
	FROM generate_series(1, 16) j)::halfvec(16) AS q FROM generate_series(1, 30) k;
SET omenhnsw.ef_search = 100;
SET enable_seqscan = off;
CREATE TEMP TABLE hv_grid_i AS
SELECT qid, ARRAY(SELECT v <-> q FROM hv_grid ORDER BY v <-> q LIMIT 50) AS d FROM hv_grid_q;
RESET enable_seqscan;
SET enable_indexscan = off;
CREATE TEMP TABLE hv_grid_s AS
SELECT qid, ARRAY(SELECT v <-> q FROM hv_grid ORDER BY v <-> q LIMIT 50) AS d FROM hv_grid_q;
RESET enable_indexscan;
RESET omenhnsw.ef_search;
SELECT count(*) AS queries, count(*) FILTER (WHERE i.d = s.d) AS same_order
FROM hv_grid_i i JOIN hv_grid_s s USING (qid);
SELECT * FROM omenhnsw_verify('hv_grid_idx');
DROP TABLE hv_grid, hv_grid_q, hv_grid_i, hv_grid_s;

-- The index keeps 4-bit codes and its halves apart: about half the size of
-- a vector index of the same values, and so says the estimate; with codes =
-- 'halves', smaller again
CREATE TABLE hv_size (v vector(512));
INSERT INTO hv_size SELECT ARRAY(SELECT sin(i * j) FROM generate_series(1, 512) j)
FROM generate_series(1, 200) i;
CREATE INDEX hv_size_vec ON hv_size USING omenhnsw (v vector_l2_ops);
CREATE INDEX hv_size_half ON hv_size USING omenhnsw ((v::halfvec(512)) halfvec_l2_ops);
CREATE INDEX hv_size_halves ON hv_size USING omenhnsw ((v::halfvec(512)) halfvec_l2_ops)
	WITH (codes = 'halves');
SELECT pg_relation_size('hv_size_half') < 0.6 * pg_relation_size('hv_size_vec') AS smaller,
	pg_relation_size('hv_size_halves') < pg_relation_size('hv_size_half') AS halves_smaller;
SELECT * FROM omenhnsw_verify('hv_size_halves');
DROP INDEX hv_size_halves;
SELECT h.index_bytes < 0.6 * v.index_bytes AS estimate_smaller
FROM omenhnsw_build_estimate(10000, 512, 16, 'halfvec_l2_ops') h,
	omenhnsw_build_estimate(10000, 512, 16, 'vector_l2_ops') v;
SELECT index_bytes > 0 AS estimates FROM omenhnsw_build_estimate('hv', 'v', 16, 'halfvec_cosine_ops');
SELECT * FROM omenhnsw_build_estimate(10, 16001, 16, 'halfvec_l2_ops');

-- pgvector's expression index pattern: a vector column indexed as halfvec
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT 1 FROM hv_size
ORDER BY v::halfvec(512) <-> (SELECT v FROM hv_size LIMIT 1)::halfvec(512) LIMIT 5;
CREATE TEMP TABLE hv_expr_idx AS SELECT v::halfvec(512) <-> (SELECT v FROM hv_size OFFSET 7 LIMIT 1)::halfvec(512) AS d
FROM hv_size ORDER BY v::halfvec(512) <-> (SELECT v FROM hv_size OFFSET 7 LIMIT 1)::halfvec(512) LIMIT 10;
RESET enable_seqscan;
SELECT array_agg(d) = (SELECT array_agg(d) FROM (SELECT v::halfvec(512) <-> (SELECT v FROM hv_size OFFSET 7 LIMIT 1)::halfvec(512) AS d
	FROM hv_size ORDER BY 1 LIMIT 10) s) AS expression_exact
FROM hv_expr_idx;
SELECT * FROM omenhnsw_verify('hv_size_half');
DROP TABLE hv_size, hv_queries, hv;
DROP FUNCTION hv_knn;
