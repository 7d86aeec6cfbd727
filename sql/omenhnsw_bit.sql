-- omenhnsw operator classes for bit: Hamming and Jaccard distances, exact
-- order, and pgvector's binary quantization pattern.
CREATE TABLE bt (id int, v bit(64));
INSERT INTO bt SELECT i, ((hashint4(i)::bigint << 32) | (hashint4(-i)::bigint & 4294967295))::bit(64)
FROM generate_series(1, 300) i;
INSERT INTO bt VALUES (301, repeat('0', 64)::bit(64)), (302, NULL);
CREATE INDEX bt_ham ON bt USING omenhnsw (v bit_hamming_ops);
CREATE INDEX bt_jac ON bt USING omenhnsw (v bit_jaccard_ops);
INSERT INTO bt SELECT i, ((hashint4(i)::bigint << 32) | (hashint4(i * 7)::bigint & 4294967295))::bit(64)
FROM generate_series(303, 400) i;
ANALYZE bt;
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname LIKE 'bt\_%' AND c.relkind = 'i';

SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bt ORDER BY v <~> repeat('10', 32)::bit(64) LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bt ORDER BY v <%> repeat('10', 32)::bit(64) LIMIT 5;
RESET enable_seqscan;

-- The distances of the k nearest by the index and by a sequential scan.
-- Hamming distances tie often, so rows of equal distance may come in any
-- order: the distances, in order, must be the same.
CREATE FUNCTION bt_knn(op text, q bit, k int, useindex bool)
RETURNS TABLE (ids int[], dists float8[]) LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('enable_seqscan', (NOT useindex)::text, true);
	PERFORM set_config('enable_indexscan', useindex::text, true);
	RETURN QUERY EXECUTE format(
		'SELECT array_agg(id), array_agg(d) FROM
			(SELECT id, v %s $1 AS d FROM bt ORDER BY v %s $1 LIMIT %s) s',
		op, op, k) USING q;
END
$$;
CREATE TABLE bt_queries (qid int, q bit(64));
INSERT INTO bt_queries VALUES (1, repeat('10', 32)::bit(64)), (2, repeat('0001', 16)::bit(64)),
	(3, repeat('1', 64)::bit(64)), (4, repeat('0', 64)::bit(64));
SET omenhnsw.ef_search = 500;
SELECT op, qid, i.dists = s.dists AS same_order, array_length(i.ids, 1) AS n
FROM unnest(ARRAY['<~>', '<%>']) op, bt_queries,
	LATERAL bt_knn(op, q, 25, true) i, LATERAL bt_knn(op, q, 25, false) s
ORDER BY op, qid;
-- every row but NULL (the sequential scan sorts its distance last), the
-- zero string too (Jaccard distance 1 to all)
SELECT op, i.dists = s.dists[1:array_length(i.dists, 1)] AS same_order,
	array_length(i.ids, 1) AS n, s.dists[array_length(i.dists, 1) + 1:] AS rest
FROM unnest(ARRAY['<~>', '<%>']) op, LATERAL bt_knn(op, repeat('10', 32)::bit(64), 1000, true) i,
	LATERAL bt_knn(op, repeat('10', 32)::bit(64), 1000, false) s
ORDER BY op;
RESET omenhnsw.ef_search;

-- iterative scans at a small ef_search still fill a filtered LIMIT
SET enable_seqscan = off;
SET omenhnsw.ef_search = 10;
SET omenhnsw.iterative_scan = strict_order;
SELECT count(*) AS strict_rows FROM (SELECT id FROM bt WHERE id % 10 = 0
	ORDER BY v <~> repeat('10', 32)::bit(64) LIMIT 20) s;
SET omenhnsw.iterative_scan = relaxed_order;
SELECT count(*) AS relaxed_rows FROM (SELECT id FROM bt WHERE id % 10 = 0
	ORDER BY v <%> repeat('10', 32)::bit(64) LIMIT 20) s;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;

-- a NULL query: every row, no distances
SELECT count(*) AS null_query, count(DISTINCT id) AS distinct_rows
FROM (SELECT id FROM bt ORDER BY v <~> NULL) s;

-- wrong lengths
SELECT id FROM bt ORDER BY v <~> B'101' LIMIT 1;
RESET enable_seqscan;
INSERT INTO bt VALUES (0, B'101');
CREATE TABLE bt_any (v varbit);
CREATE INDEX ON bt_any USING omenhnsw (v bit_hamming_ops);
DROP TABLE bt_any;

-- VACUUM after deletes
DELETE FROM bt WHERE id % 4 = 0;
VACUUM bt;
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname LIKE 'bt\_%' AND c.relkind = 'i';
SET omenhnsw.ef_search = 500;
SELECT op, bool_and(i.dists = s.dists) AS same_order
FROM unnest(ARRAY['<~>', '<%>']) op, bt_queries,
	LATERAL bt_knn(op, q, 25, true) i, LATERAL bt_knn(op, q, 25, false) s
GROUP BY op ORDER BY op;
RESET omenhnsw.ef_search;

-- Longer than the codes' 16,000 floats: codes from a sample of the bits,
-- exact distances over all of them.  The most bits an index takes, and one
-- more.
CREATE TABLE bt_long (id int, v bit(64000));
INSERT INTO bt_long SELECT i, (SELECT string_agg(CASE WHEN hashint4(i * 64000 + j) % 3 = 0 THEN '1' ELSE '0' END, '')
	FROM generate_series(1, 64000) j)::bit(64000) FROM generate_series(1, 12) i;
CREATE INDEX bt_long_ham ON bt_long USING omenhnsw (v bit_hamming_ops);
CREATE INDEX bt_long_jac ON bt_long USING omenhnsw (v bit_jaccard_ops);
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname LIKE 'bt\_long\_%';
SET enable_seqscan = off;
CREATE TEMP TABLE bt_long_idx AS
	SELECT array_agg(id) AS ids FROM (SELECT id FROM bt_long
	ORDER BY v <~> (SELECT v FROM bt_long WHERE id = 5) LIMIT 12) s;
RESET enable_seqscan;
SELECT ids = (SELECT array_agg(id ORDER BY v <~> (SELECT v FROM bt_long WHERE id = 5), id) FROM bt_long) AS long_exact,
	ids[1] = 5 AS itself_first
FROM bt_long_idx;
DROP TABLE bt_long;
CREATE TABLE bt_over (v bit(64001));
CREATE INDEX ON bt_over USING omenhnsw (v bit_hamming_ops);
CREATE INDEX ON bt_over USING omenhnsw (v bit_jaccard_ops);
DROP TABLE bt_over;

-- The estimate: a bit index is small
SELECT b.index_bytes < v.index_bytes / 3 AS estimate_smaller
FROM omenhnsw_build_estimate(10000, 1536, 16, 'bit_hamming_ops') b,
	omenhnsw_build_estimate(10000, 1536, 16, 'vector_l2_ops') v;
SELECT * FROM omenhnsw_build_estimate(10, 64001, 16, 'bit_jaccard_ops');

-- pgvector's binary quantization with re-ranking: an expression index on
-- binary_quantize(v)::bit(N) finds candidates by Hamming distance, an outer
-- query orders them by the exact distance
CREATE TABLE bq (id int, v vector(32));
INSERT INTO bq SELECT i, ARRAY(SELECT sin(i * 0.61 * j + j * j) FROM generate_series(1, 32) j)
FROM generate_series(1, 400) i;
CREATE INDEX bq_idx ON bq USING omenhnsw ((binary_quantize(v)::bit(32)) bit_hamming_ops);
ANALYZE bq;
SELECT * FROM omenhnsw_verify('bq_idx');
\set q '[1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1,1,-1]'
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM (
	SELECT id, v FROM bq ORDER BY binary_quantize(v)::bit(32) <~> binary_quantize(:'q'::vector) LIMIT 100) s
ORDER BY v <=> :'q' LIMIT 10;
SET omenhnsw.ef_search = 500;
CREATE TEMP TABLE bq_cand AS
SELECT id, binary_quantize(v)::bit(32) <~> binary_quantize(:'q'::vector) AS d FROM bq
ORDER BY binary_quantize(v)::bit(32) <~> binary_quantize(:'q'::vector) LIMIT 100;
CREATE TEMP TABLE bq_rerank AS
SELECT id FROM (
	SELECT id, v FROM bq ORDER BY binary_quantize(v)::bit(32) <~> binary_quantize(:'q'::vector) LIMIT 100) s
ORDER BY v <=> :'q' LIMIT 10;
RESET omenhnsw.ef_search;
RESET enable_seqscan;
-- the candidates are the 100 nearest by Hamming distance (up to ties), and
-- the outer query re-ranks them by the exact distance
SELECT (SELECT array_agg(d) FROM bq_cand) = (SELECT array_agg(d) FROM (
	SELECT binary_quantize(v)::bit(32) <~> binary_quantize(:'q'::vector) AS d FROM bq ORDER BY 1 LIMIT 100) s)
	AS candidates_exact;
SELECT (SELECT array_agg(id) FROM bq_rerank) = (SELECT array_agg(id) FROM (
	SELECT id FROM bq WHERE id IN (SELECT id FROM bq_cand) ORDER BY v <=> :'q' LIMIT 10) s)
	AS reranked;

-- without a length in the expression, the first value sets it
CREATE TABLE bq_any (v vector);
CREATE INDEX bq_any_idx ON bq_any USING omenhnsw ((binary_quantize(v)) bit_jaccard_ops);
INSERT INTO bq_any VALUES ('[1,-2,3]'), ('[-1,2,3]');
INSERT INTO bq_any VALUES ('[1,2]');
SELECT * FROM omenhnsw_verify('bq_any_idx');

-- codes of a bit an element: a row of bit(1024) takes its 128 bytes of code
-- and its exact bits apart, with the links, in under 700 bytes (8-bit codes
-- would take 1,024 for the code alone), and so says the estimate
CREATE TABLE bsz (v bit(1024));
INSERT INTO bsz SELECT (SELECT string_agg(CASE WHEN hashint4(i * 1031 + j) & 1 = 1
		THEN '1' ELSE '0' END, '') FROM generate_series(1, 1024) j)::bit(1024)
FROM generate_series(1, 1000) i;
CREATE INDEX bsz_idx ON bsz USING omenhnsw (v bit_hamming_ops);
SELECT * FROM omenhnsw_verify('bsz_idx');
SELECT pg_relation_size('bsz_idx') / 1000 < 700 AS small;
SELECT bytes_per_vector < 700 AS estimate_small
FROM omenhnsw_build_estimate(1000, 1024, 16, 'bit_hamming_ops');
SET omenhnsw.ef_search = 1000;
SET enable_seqscan = off;
SELECT array(SELECT v <~> (SELECT v FROM bsz LIMIT 1) FROM bsz ORDER BY v <~> (SELECT v FROM bsz LIMIT 1) LIMIT 20) =
	array(SELECT v <~> (SELECT v FROM bsz LIMIT 1) FROM bsz ORDER BY (v <~> (SELECT v FROM bsz LIMIT 1)) + 0 LIMIT 20) AS exact;
RESET enable_seqscan;
RESET omenhnsw.ef_search;
DROP TABLE bq, bq_any, bt_queries, bt, bsz;
DROP FUNCTION bt_knn;
