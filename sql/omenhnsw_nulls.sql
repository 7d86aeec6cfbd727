-- A query with no distances: a NULL query vector, or a zero one under
-- cosine, where every distance is NULL or NaN.  ORDER BY removes no row, so
-- the scan returns every indexed row (rows whose vector is NULL are not
-- indexed, nor zero vectors under cosine), whatever omenhnsw.iterative_scan
-- says, after a build and after inserts, and on rescans that switch between
-- such a query and a real one.
CREATE TABLE nq (id int, val vector(3));
INSERT INTO nq VALUES (1, '[0,0,0]'), (2, '[1,2,3]'), (3, '[1,1,1]'), (4, NULL),
	(5, '[4,5,6]');
CREATE INDEX nq_l2 ON nq USING omenhnsw (val vector_l2_ops);
CREATE INDEX nq_cos ON nq USING omenhnsw (val vector_cosine_ops);
SET enable_seqscan = off;

CREATE FUNCTION nq_counts() RETURNS TABLE (l2_null bigint, cos_null bigint, cos_zero bigint)
LANGUAGE sql AS $$
	SELECT (SELECT count(*) FROM (SELECT * FROM nq ORDER BY val <-> (SELECT NULL::vector)) s),
		(SELECT count(*) FROM (SELECT * FROM nq ORDER BY val <=> (SELECT NULL::vector)) s),
		(SELECT count(*) FROM (SELECT * FROM nq ORDER BY val <=> '[0,0,0]') s)
$$;

EXPLAIN (COSTS OFF) SELECT * FROM nq ORDER BY val <-> (SELECT NULL::vector);
EXPLAIN (COSTS OFF) SELECT * FROM nq ORDER BY val <=> '[0,0,0]';
SET omenhnsw.iterative_scan = off;
SELECT * FROM nq_counts();
SET omenhnsw.iterative_scan = relaxed_order;
SELECT * FROM nq_counts();
SET omenhnsw.iterative_scan = strict_order;
SELECT * FROM nq_counts();
-- the rows themselves, with their distances as the executor computes them
SELECT id, val <-> (SELECT NULL::vector) AS d FROM nq ORDER BY val <-> (SELECT NULL::vector), id;
SELECT id, val <=> '[0,0,0]' AS d FROM (SELECT * FROM nq ORDER BY val <=> '[0,0,0]') s ORDER BY id;

-- after inserts (into the segment the build sealed and beyond)
INSERT INTO nq SELECT i, ARRAY[i % 7, i % 5, i % 3]::vector FROM generate_series(6, 205) i;
INSERT INTO nq VALUES (206, NULL), (207, '[0,0,0]');
SET omenhnsw.iterative_scan = off;
SELECT * FROM nq_counts();
SET omenhnsw.iterative_scan = relaxed_order;
SELECT * FROM nq_counts();
RESET omenhnsw.iterative_scan;
SELECT * FROM nq_counts();
SELECT count(*) AS indexed_l2 FROM nq WHERE val IS NOT NULL;
SELECT count(*) AS indexed_cos FROM nq WHERE val IS NOT NULL AND val <> '[0,0,0]';

-- a rescan that switches between a NULL query and real ones: the lateral
-- index scan is rescanned for each outer row
CREATE TABLE nq_queries (qid int, q vector(3));
INSERT INTO nq_queries VALUES (1, '[1,1,1]'), (2, NULL), (3, '[4,5,6]'), (4, NULL), (5, '[0,0,0]');
EXPLAIN (COSTS OFF) SELECT qid, count(*) FROM nq_queries,
	LATERAL (SELECT id FROM nq ORDER BY val <-> q) s GROUP BY qid ORDER BY qid;
SELECT qid, count(*) FROM nq_queries,
	LATERAL (SELECT id FROM nq ORDER BY val <-> q) s GROUP BY qid ORDER BY qid;
SELECT qid, count(*) FROM nq_queries,
	LATERAL (SELECT id FROM nq ORDER BY val <=> q) s GROUP BY qid ORDER BY qid;
SELECT qid, (SELECT array_agg(round((val <-> q)::numeric, 3)) FROM
	(SELECT val FROM nq ORDER BY val <-> q LIMIT 3) s) AS dists
FROM nq_queries ORDER BY qid;
-- without iterative scans a real query returns its first batch, a NULL one
-- every row
SET omenhnsw.iterative_scan = off;
SELECT qid, q IS NULL AS null_query, count(*) = 205 AS every_row,
	count(*) BETWEEN 40 AND 204 AS first_batch
FROM nq_queries, LATERAL (SELECT id FROM nq ORDER BY val <-> q) s
GROUP BY qid, q ORDER BY qid;
RESET omenhnsw.iterative_scan;
DROP TABLE nq, nq_queries;
DROP FUNCTION nq_counts();
