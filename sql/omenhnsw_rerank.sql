-- omenhnsw searches by codes and hands out rows by exact distance, reading
-- the exact vectors only as far as the order needs: a node's exact distance
-- is within a bound of its code's, and its vector is read once that bound
-- could put it next.  Here one large element per row makes each 8-bit code
-- coarse (a step of about 4, while the other elements lie in 0..1), so the
-- codes alone misorder most rows; the index order must still be the exact
-- one, whether the search reaches every row or not.  (Cosine distances are
-- all near 0 here, where float rounding ties them; omenhnsw_order checks
-- its order, and inner product covers the same bound.)
CREATE TABLE rr (id int, v vector(8));
INSERT INTO rr SELECT i, ('[' || (1000 + i % 3) || ',' ||
	(SELECT string_agg(((i * 7919 + j * 104729) % 1000 / 1000.0)::text, ',')
	 FROM generate_series(1, 7) j) || ']')::vector
FROM generate_series(1, 300) i;
CREATE INDEX rr_l2 ON rr USING omenhnsw (v vector_l2_ops);
CREATE INDEX rr_ip ON rr USING omenhnsw (v vector_ip_ops);
CREATE INDEX rr_l1 ON rr USING omenhnsw (v vector_l1_ops);
CREATE TABLE rq (qid int, q vector(8));
INSERT INTO rq VALUES (1, '[1001,0.5,0.5,0.5,0.5,0.5,0.5,0.5]'),
	(2, '[1000,0.1,0.9,0.2,0.8,0.3,0.7,0.4]'), (3, '[1,0,0,0,0,0,0,0.2]');
SET enable_seqscan = off;
-- every row, in the exact order: the distances in index order equal the
-- sorted distances computed outside the index (+ 0 hides the operator)
SET omenhnsw.ef_search = 400;
SELECT qid,
	array(SELECT v <-> q FROM rr ORDER BY v <-> q) =
	array(SELECT v <-> q FROM rr ORDER BY (v <-> q) + 0) AS l2,
	array(SELECT v <#> q FROM rr ORDER BY v <#> q) =
	array(SELECT v <#> q FROM rr ORDER BY (v <#> q) + 0) AS ip,
	array(SELECT v <+> q FROM rr ORDER BY v <+> q) =
	array(SELECT v <+> q FROM rr ORDER BY (v <+> q) + 0) AS l1
FROM rq ORDER BY qid;
-- without iterative scans a scan hands out ef_search rows, ascending
SET omenhnsw.iterative_scan = off;
SET omenhnsw.ef_search = 20;
CREATE FUNCTION rr_ascending(d float8[]) RETURNS bool LANGUAGE sql AS $$
	SELECT d = array(SELECT x FROM unnest(d) x ORDER BY x) AND cardinality(d) = 20
$$;
SELECT qid,
	rr_ascending(array(SELECT v <-> q FROM rr ORDER BY v <-> q)) AS l2,
	rr_ascending(array(SELECT v <#> q FROM rr ORDER BY v <#> q)) AS ip,
	rr_ascending(array(SELECT v <+> q FROM rr ORDER BY v <+> q)) AS l1
FROM rq ORDER BY qid;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;
DROP TABLE rr, rq;
DROP FUNCTION rr_ascending;
