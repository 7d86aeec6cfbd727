-- omenhnsw: each operator class returns the exact nearest-neighbour order on a
-- small table.  With 24 rows and ef_search 100 the search reaches every node,
-- so the results are exact and the output is deterministic; the coordinates
-- were chosen so that no two rows tie for any metric and query below.
CREATE TABLE items (id int, v vector(3));
INSERT INTO items VALUES
(1, '[6.1,-9,-6.5]'),
(2, '[9.6,-4.5,9.7]'),
(3, '[-0.8,-5.6,-7.5]'),
(4, '[-5.1,-0.5,1.2]'),
(5, '[7.1,-1.4,3.2]'),
(6, '[7.1,5.5,-9.1]'),
(7, '[-9.5,-1.4,-6.4]'),
(8, '[4.1,-9.4,-3.7]'),
(9, '[4.1,-7.3,-6.6]'),
(10, '[1.1,-9.4,-0.1]'),
(11, '[-5.5,-9.7,4.6]'),
(12, '[-3.6,0.3,9.9]'),
(13, '[6.8,4.4,0.7]'),
(14, '[4.5,-0.3,-4.1]'),
(15, '[2.7,9.8,2.4]'),
(16, '[8,2,-5.1]'),
(17, '[6.6,-6,0.9]'),
(18, '[4.3,-1.9,1.4]'),
(19, '[-5.3,6.9,5.5]'),
(20, '[-4.3,3,2.4]'),
(21, '[0.9,7,-7.1]'),
(22, '[1,3.1,0.4]'),
(23, '[-5.3,-8.2,2.8]'),
(24, '[1.2,9.9,8.4]');
CREATE TABLE queries (qid int, q vector(3));
INSERT INTO queries VALUES (1, '[1,2,3]'), (2, '[-4,0,7]'), (3, '[5,-5,1]');

CREATE INDEX items_l2 ON items USING omenhnsw (v vector_l2_ops);
CREATE INDEX items_ip ON items USING omenhnsw (v vector_ip_ops);
CREATE INDEX items_cos ON items USING omenhnsw (v vector_cosine_ops);
CREATE INDEX items_l1 ON items USING omenhnsw (v vector_l1_ops);
ANALYZE items;
SELECT c.relname, v.problem FROM pg_class c, omenhnsw_verify(c.oid) v(problem)
WHERE c.relname IN ('items_l2', 'items_ip', 'items_cos', 'items_l1');
SET enable_seqscan = off;
SET omenhnsw.ef_search = 100;

-- each distance operator picks the index of its operator class
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <=> '[1,2,3]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <+> '[1,2,3]' LIMIT 5;

-- the five nearest, with their distances
SELECT id, round((v <-> '[1,2,3]')::numeric, 3) AS l2 FROM items ORDER BY v <-> '[1,2,3]' LIMIT 5;
SELECT id, round((v <#> '[1,2,3]')::numeric, 3) AS neg_ip FROM items ORDER BY v <#> '[1,2,3]' LIMIT 5;
SELECT id, round((v <=> '[1,2,3]')::numeric, 3) AS cos FROM items ORDER BY v <=> '[1,2,3]' LIMIT 5;
SELECT id, round((v <+> '[1,2,3]')::numeric, 3) AS l1 FROM items ORDER BY v <+> '[1,2,3]' LIMIT 5;

-- the whole table in index order, for every query; "exact" compares it with
-- the order of the same distance computed outside the index (+ 0 hides the
-- operator from the planner, so that side is a sort over a sequential scan)
EXPLAIN (COSTS OFF) SELECT qid, array(SELECT id FROM items ORDER BY v <-> q LIMIT 24) FROM queries;
SELECT qid, array(SELECT id FROM items ORDER BY v <-> q LIMIT 24) AS l2_order,
	array(SELECT id FROM items ORDER BY v <-> q LIMIT 24) =
	array(SELECT id FROM items ORDER BY (v <-> q) + 0 LIMIT 24) AS exact
FROM queries ORDER BY qid;
SELECT qid, array(SELECT id FROM items ORDER BY v <#> q LIMIT 24) AS ip_order,
	array(SELECT id FROM items ORDER BY v <#> q LIMIT 24) =
	array(SELECT id FROM items ORDER BY (v <#> q) + 0 LIMIT 24) AS exact
FROM queries ORDER BY qid;
SELECT qid, array(SELECT id FROM items ORDER BY v <=> q LIMIT 24) AS cos_order,
	array(SELECT id FROM items ORDER BY v <=> q LIMIT 24) =
	array(SELECT id FROM items ORDER BY (v <=> q) + 0 LIMIT 24) AS exact
FROM queries ORDER BY qid;
SELECT qid, array(SELECT id FROM items ORDER BY v <+> q LIMIT 24) AS l1_order,
	array(SELECT id FROM items ORDER BY v <+> q LIMIT 24) =
	array(SELECT id FROM items ORDER BY (v <+> q) + 0 LIMIT 24) AS exact
FROM queries ORDER BY qid;

-- the commuted form const <-> col uses the index too
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY '[1,2,3]' <-> v LIMIT 5;
SELECT array(SELECT id FROM items ORDER BY '[1,2,3]' <-> v LIMIT 5) AS commuted,
	array(SELECT id FROM items ORDER BY v <-> '[1,2,3]' LIMIT 5) AS plain;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY '[1,2,3]' <=> v LIMIT 5;
SELECT array(SELECT id FROM items ORDER BY '[1,2,3]' <=> v LIMIT 5) AS commuted,
	array(SELECT id FROM items ORDER BY v <=> '[1,2,3]' LIMIT 5) AS plain;

-- a query vector given as a parameter (generic plan) and as a sub-select
PREPARE knn(vector) AS SELECT id FROM items ORDER BY v <-> $1 LIMIT 3;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE knn('[5,-5,1]');
EXECUTE knn('[5,-5,1]');
EXECUTE knn('[1,2,3]');
RESET plan_cache_mode;
DEALLOCATE knn;
SELECT id FROM items ORDER BY v <-> (SELECT q FROM queries WHERE qid = 2) LIMIT 3;

-- a filter on top of the index scan
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE id % 2 = 0 ORDER BY v <-> '[1,2,3]' LIMIT 5;
SELECT array(SELECT id FROM items WHERE id % 2 = 0 ORDER BY v <-> '[1,2,3]' LIMIT 5) =
	array(SELECT id FROM items WHERE id % 2 = 0 ORDER BY (v <-> '[1,2,3]') + 0 LIMIT 5) AS exact;

-- LATERAL: the two nearest rows for each query row, the index rescanned per row
EXPLAIN (COSTS OFF)
SELECT q.qid, n.id FROM queries q
CROSS JOIN LATERAL (SELECT id FROM items ORDER BY items.v <-> q.q LIMIT 2) n;
SELECT q.qid, n.id, round(n.dist::numeric, 3) AS dist FROM queries q
CROSS JOIN LATERAL (SELECT id, v <-> q.q AS dist FROM items ORDER BY items.v <-> q.q LIMIT 2) n
ORDER BY q.qid, n.dist;

-- queries the index cannot answer do not use it
EXPLAIN (COSTS OFF) SELECT id FROM items LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE v = '[1,3.1,0.4]';
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE v <-> '[1,2,3]' < 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,2,3]' DESC LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY (v <-> '[1,2,3]') + 1 LIMIT 5;
-- ... and their results are right
SELECT id FROM items WHERE v = '[1,3.1,0.4]';
SELECT id FROM items ORDER BY v <-> '[1,2,3]' DESC LIMIT 3;
-- with the ip index gone, <#> no longer uses an omenhnsw index
DROP INDEX items_ip;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> '[1,2,3]' LIMIT 5;

RESET enable_seqscan;
RESET omenhnsw.ef_search;
DROP TABLE items, queries;
