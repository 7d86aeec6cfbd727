-- omenhnsw distance bounds: for "WHERE v <-> q < r ORDER BY v <-> q" omendb's
-- planner hook adds "v <@ r" to the index scan's conditions, so the scan may
-- stop once its distances pass r; the filter stays and does the exact
-- filtering.  With 60 rows and ef_search 100 the search reaches every node,
-- so index results are exact and comparable with a sort ("+ 0" keeps the
-- exact side away from the index).
CREATE TABLE bound_items (id int, v vector(3));
INSERT INTO bound_items SELECT i,
	ARRAY[2 * sin(i * 0.9), 2 * cos(i * 1.3), 2 * sin(i * 0.4 + 1)]::real[]
	FROM generate_series(1, 60) i;
CREATE TABLE bound_queries (qid int, q vector(3));
INSERT INTO bound_queries VALUES (1, '[1,1,0]'), (2, '[-1,0.5,2]'), (3, '[0.2,-1.5,-0.7]');
CREATE INDEX bound_l2 ON bound_items USING omenhnsw (v vector_l2_ops);
CREATE INDEX bound_ip ON bound_items USING omenhnsw (v vector_ip_ops);
CREATE INDEX bound_cos ON bound_items USING omenhnsw (v vector_cosine_ops);
CREATE INDEX bound_l1 ON bound_items USING omenhnsw (v vector_l1_ops);
ANALYZE bound_items;
SET enable_seqscan = off;
SET omenhnsw.ef_search = 100;

-- the operator classes validate with the bound operator; a misplaced or
-- mistyped strategy 2 operator does not
SELECT opcname, amvalidate(oid) FROM pg_opclass
WHERE opcmethod = (SELECT oid FROM pg_am WHERE amname = 'omenhnsw') ORDER BY opcname;
CREATE OPERATOR CLASS bound_bad_ops FOR TYPE vector USING omenhnsw AS
	OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
	OPERATOR 2 = (vector, vector),
	OPERATOR 3 <@ (vector, float8),
	FUNCTION 1 vector_l2_squared_distance(vector, vector);
SELECT amvalidate(oid) FROM pg_opclass WHERE opcname = 'bound_bad_ops';
DROP OPERATOR FAMILY bound_bad_ops USING omenhnsw;

-- <@ is true for every row wherever it is evaluated (an EvalPlanQual recheck
-- of the index conditions runs it); written in a query it is inlined away
SELECT '[1,2,3]'::vector <@ 0.5 AS bound, '[1,2,3]'::vector <@ NULL AS null_bound,
	omenhnsw_distance_bound(NULL, NULL) AS nulls;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items WHERE v <@ -1 ORDER BY v <-> '[1,1,0]' LIMIT 3;
SELECT count(*) FROM bound_items WHERE v <@ -1;

-- the bound becomes an index condition: <, <=, the commuted > and >=, the
-- commuted distance q <-> v, a bound from a sub-select, and several bounds
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' < 2.5 ORDER BY v <-> '[1,1,0]';
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' <= 2.5 ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE 2.5 > v <-> '[1,1,0]' ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE 2.5 >= v <-> '[1,1,0]' ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE '[1,1,0]' <-> v < 2.5 ORDER BY '[1,1,0]' <-> v LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' < (SELECT 2.5) ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' < 2.5 AND v <-> '[1,1,0]' <= 3 AND id > 3 ORDER BY v <-> '[1,1,0]';
-- each operator class
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <#> '[1,1,0]' < -1 ORDER BY v <#> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <=> '[1,1,0]' < 0.5 ORDER BY v <=> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <+> '[1,1,0]' < 3 ORDER BY v <+> '[1,1,0]' LIMIT 5;

-- every scan of a statement gets its bound: partitions, a CTE
CREATE TABLE bound_parts (id int, v vector(3)) PARTITION BY RANGE (id);
CREATE TABLE bound_parts_1 PARTITION OF bound_parts FOR VALUES FROM (1) TO (31);
CREATE TABLE bound_parts_2 PARTITION OF bound_parts FOR VALUES FROM (31) TO (61);
INSERT INTO bound_parts SELECT id, v FROM bound_items;
CREATE INDEX ON bound_parts USING omenhnsw (v vector_l2_ops);
ANALYZE bound_parts;
EXPLAIN (COSTS OFF) SELECT id FROM bound_parts
WHERE v <-> '[1,1,0]' < 2.5 ORDER BY v <-> '[1,1,0]' LIMIT 5;
SELECT array(SELECT id FROM bound_parts WHERE v <-> '[1,1,0]' < 2.5 ORDER BY v <-> '[1,1,0]') =
	array(SELECT id FROM bound_items WHERE (v <-> '[1,1,0]') + 0 < 2.5 ORDER BY (v <-> '[1,1,0]') + 0) AS exact;
EXPLAIN (COSTS OFF)
WITH near AS MATERIALIZED (SELECT id FROM bound_items
	WHERE v <-> '[1,1,0]' < 2.5 ORDER BY v <-> '[1,1,0]')
SELECT id FROM near;
DROP TABLE bound_parts;

-- no bound: another query vector, another operator, another expression, a
-- lower bound, a bound that depends on the row or is volatile
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[0,1,1]' < 2.5 ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <+> '[1,1,0]' < 2.5 ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE (v <-> '[1,1,0]') * 2 < 2.5 ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' > 2.5 ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE 2.5 < v <-> '[1,1,0]' ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' < id ORDER BY v <-> '[1,1,0]' LIMIT 5;
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' < random() ORDER BY v <-> '[1,1,0]' LIMIT 5;
-- ... nor without an ORDER BY, where the index is of no use
EXPLAIN (COSTS OFF) SELECT id FROM bound_items WHERE v <-> '[1,1,0]' < 2.5;

-- the results equal the exact ones, for every query, several bounds and
-- each operator class (q and r reach the scan as parameters of a subplan)
EXPLAIN (COSTS OFF)
SELECT array(SELECT id FROM bound_items WHERE v <-> q < r ORDER BY v <-> q)
FROM bound_queries, (VALUES (2.5::float8)) b(r);
SELECT qid, r, cardinality(array(SELECT id FROM bound_items WHERE v <-> q < r ORDER BY v <-> q)) AS n,
	array(SELECT id FROM bound_items WHERE v <-> q < r ORDER BY v <-> q) =
	array(SELECT id FROM bound_items WHERE (v <-> q) + 0 < r ORDER BY (v <-> q) + 0) AS exact,
	array(SELECT id FROM bound_items WHERE r >= v <-> q ORDER BY v <-> q LIMIT 4) =
	array(SELECT id FROM bound_items WHERE (v <-> q) + 0 <= r ORDER BY (v <-> q) + 0 LIMIT 4) AS exact_limit
FROM bound_queries, (VALUES (0.5::float8), (1.5), (2.5), (4)) b(r) ORDER BY qid, r;
SELECT qid, r, cardinality(array(SELECT id FROM bound_items WHERE v <#> q < r ORDER BY v <#> q)) AS n,
	array(SELECT id FROM bound_items WHERE v <#> q < r ORDER BY v <#> q) =
	array(SELECT id FROM bound_items WHERE (v <#> q) + 0 < r ORDER BY (v <#> q) + 0) AS exact
FROM bound_queries, (VALUES (-3::float8), (-1), (0), (2)) b(r) ORDER BY qid, r;
SELECT qid, r, cardinality(array(SELECT id FROM bound_items WHERE v <=> q < r ORDER BY v <=> q)) AS n,
	array(SELECT id FROM bound_items WHERE v <=> q < r ORDER BY v <=> q) =
	array(SELECT id FROM bound_items WHERE (v <=> q) + 0 < r ORDER BY (v <=> q) + 0) AS exact
FROM bound_queries, (VALUES (0.1::float8), (0.5), (1), (1.5)) b(r) ORDER BY qid, r;
SELECT qid, r, cardinality(array(SELECT id FROM bound_items WHERE v <+> q < r ORDER BY v <+> q)) AS n,
	array(SELECT id FROM bound_items WHERE v <+> q < r ORDER BY v <+> q) =
	array(SELECT id FROM bound_items WHERE (v <+> q) + 0 < r ORDER BY (v <+> q) + 0) AS exact
FROM bound_queries, (VALUES (1::float8), (2.5), (4), (6)) b(r) ORDER BY qid, r;

-- LATERAL: the bound comes from the outer row
EXPLAIN (COSTS OFF)
SELECT b.qid, n.id FROM bound_queries b
CROSS JOIN LATERAL (SELECT id FROM bound_items WHERE v <-> b.q <= b.qid ORDER BY v <-> b.q) n;
SELECT b.qid, count(*) AS n, count(*) = (SELECT count(*) FROM bound_items WHERE (v <-> b.q) + 0 <= b.qid) AS exact
FROM bound_queries b
CROSS JOIN LATERAL (SELECT id FROM bound_items WHERE v <-> b.q <= b.qid ORDER BY v <-> b.q) n
GROUP BY b.qid, b.q ORDER BY b.qid;

-- bounds no row meets, a NaN bound (which every distance is below) and an
-- infinite one
SELECT id FROM bound_items WHERE v <-> '[1,1,0]' < 0 ORDER BY v <-> '[1,1,0]';
SELECT id FROM bound_items WHERE v <#> '[1,1,0]' <= -100 ORDER BY v <#> '[1,1,0]' LIMIT 3;
SELECT array(SELECT id FROM bound_items WHERE v <-> '[1,1,0]' < 'NaN' ORDER BY v <-> '[1,1,0]') =
	array(SELECT id FROM bound_items ORDER BY (v <-> '[1,1,0]') + 0) AS nan_is_no_bound;
SELECT array(SELECT id FROM bound_items WHERE v <-> '[1,1,0]' <= 'Infinity' ORDER BY v <-> '[1,1,0]') =
	array(SELECT id FROM bound_items ORDER BY (v <-> '[1,1,0]') + 0) AS infinity_is_no_bound;
-- a NULL bound: no row; as a constant the planner drops the scan altogether
EXPLAIN (COSTS OFF) SELECT id FROM bound_items
WHERE v <-> '[1,1,0]' < NULL::float8 ORDER BY v <-> '[1,1,0]';
SELECT id FROM bound_items WHERE v <-> '[1,1,0]' < NULL::float8 ORDER BY v <-> '[1,1,0]';

-- prepared statements: a generic plan passes the bound as a parameter, a
-- custom plan as a constant
PREPARE bound_knn(vector, float8) AS
	SELECT id FROM bound_items WHERE v <-> $1 < $2 ORDER BY v <-> $1;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE bound_knn('[1,1,0]', 2.5);
CREATE TEMP TABLE bound_generic AS EXECUTE bound_knn('[1,1,0]', 2.5);
SELECT array(SELECT id FROM bound_generic) =
	array(SELECT id FROM bound_items WHERE (v <-> '[1,1,0]') + 0 < 2.5 ORDER BY (v <-> '[1,1,0]') + 0) AS exact,
	(SELECT count(*) FROM bound_generic) AS n;
EXECUTE bound_knn('[1,1,0]', NULL);
SET plan_cache_mode = force_custom_plan;
EXPLAIN (COSTS OFF) EXECUTE bound_knn('[1,1,0]', 2.5);
CREATE TEMP TABLE bound_custom AS EXECUTE bound_knn('[1,1,0]', 2.5);
SELECT array(SELECT id FROM bound_custom) = array(SELECT id FROM bound_generic) AS same;
EXECUTE bound_knn('[1,1,0]', NULL);
RESET plan_cache_mode;
DEALLOCATE bound_knn;

-- Early stop, on a few thousand rows: a strict-order scan with no LIMIT
-- would otherwise go on through the whole index and have the filter throw
-- away all but the rows within the bound.  r is the exact distance of the
-- 100th nearest row.
SELECT setseed(0.25);
CREATE TABLE bound_big AS SELECT i AS id,
	ARRAY[random(), random(), random(), random()]::real[]::vector(4) AS v
	FROM generate_series(1, 3000) i;
CREATE INDEX ON bound_big USING omenhnsw (v vector_l2_ops);
ANALYZE bound_big;
SELECT (v <-> '[0.5,0.5,0.5,0.5]') + 0 AS bound_r FROM bound_big ORDER BY 1 OFFSET 99 LIMIT 1 \gset
CREATE FUNCTION pg_temp.bound_scan(r float8, OUT returned int, OUT removed int)
LANGUAGE plpgsql AS $$
DECLARE
	plan json;
	scan jsonb;
BEGIN
	EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON)
		SELECT id FROM bound_big WHERE v <-> ''[0.5,0.5,0.5,0.5]'' <= $1
		ORDER BY v <-> ''[0.5,0.5,0.5,0.5]''' INTO plan USING r;
	scan := jsonb_path_query_first(plan::jsonb, '$.** ? (@."Node Type" == "Index Scan")');
	returned := scan ->> 'Actual Rows';
	removed := scan ->> 'Rows Removed by Filter';
END
$$;
SET omenhnsw.iterative_scan = strict_order;
SET omenhnsw.ef_search = 40;
SELECT returned >= 95 AS found_the_rows, removed < 200 AS stopped_early FROM pg_temp.bound_scan(:bound_r);
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;

DROP TABLE bound_items, bound_queries, bound_big;

-- the hook finds the access method of a recreated extension
DROP EXTENSION omendb;
CREATE EXTENSION omendb;
CREATE TABLE bound_again (id int, v vector(2));
CREATE INDEX ON bound_again USING omenhnsw (v vector_l2_ops);
EXPLAIN (COSTS OFF) SELECT id FROM bound_again
WHERE v <-> '[1,1]' < 2.5 ORDER BY v <-> '[1,1]' LIMIT 5;
DROP TABLE bound_again;
