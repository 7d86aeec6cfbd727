-- avg(halfvec) and sum(halfvec)
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TEMP TABLE hagg (g int, v halfvec);
INSERT INTO hagg VALUES
	(1, '[1,2,3]'), (1, '[3,4,5]'), (1, NULL), (2, '[-1,0,1]'), (3, NULL);
SELECT avg(v), sum(v), count(v) FROM hagg WHERE g = 1;
SELECT g, avg(v), sum(v) FROM hagg GROUP BY g ORDER BY g;
SELECT avg(v), sum(v) FROM hagg WHERE false;
SELECT pg_typeof(avg(v)), pg_typeof(sum(v)) FROM hagg;
-- the mean is summed in double and rounded once to half
SELECT avg(v) FROM (VALUES ('[1,0.1]'::halfvec), ('[2,0.1]'), ('[2,0.1]')) t(v);
SELECT avg(v) FROM (VALUES ('[65504]'::halfvec), ('[65504]'), ('[65504]')) t(v);
-- the sum is halfvec arithmetic: it overflows past 65504
SELECT pg_temp.try($$SELECT sum(v) FROM (VALUES ('[65504]'::halfvec), ('[65504]')) t(v)$$);
SELECT sum(v) FROM (VALUES ('[0.1]'::halfvec), ('[0.1]'), ('[0.1]')) t(v);
-- hashed grouping keeps one state per group
SET enable_sort = off;
SELECT g % 3 AS k, avg(v), sum(v)
FROM (SELECT i AS g, ARRAY[i, 2 * i]::halfvec AS v FROM generate_series(1, 30) i) s
GROUP BY k ORDER BY k;
RESET enable_sort;
-- running window average: the final function sees each state in turn
SELECT g, v, avg(v) OVER (ORDER BY g, v), sum(v) OVER (ORDER BY g, v)
FROM hagg WHERE v IS NOT NULL ORDER BY g, v;
-- dimension mismatch
SELECT pg_temp.try($$SELECT avg(v) FROM (VALUES ('[1,2]'::halfvec), ('[1,2,3]')) t(v)$$);
SELECT pg_temp.try($$SELECT sum(v) FROM (VALUES ('[1,2]'::halfvec), ('[1,2,3]')) t(v)$$);
-- 16000 dimensions
SELECT vector_dims(avg(v)), vector_dims(sum(v))
FROM (SELECT ('[' || repeat('1,', 15999) || '1]')::halfvec v FROM generate_series(1, 3)) t;

-- parallel aggregation combines partial states
CREATE TABLE hagg_p (v halfvec);
INSERT INTO hagg_p SELECT ARRAY[i % 10, i % 7, 1]::halfvec FROM generate_series(1, 10000) i;
ANALYZE hagg_p;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v) FROM hagg_p;
SELECT avg(v) FROM hagg_p;
-- partial aggregates that saw no rows combine to no rows
CREATE TABLE hagg_e (v halfvec);
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM hagg_e;
SELECT avg(v) IS NULL AS empty_avg, sum(v) IS NULL AS empty_sum FROM hagg_e;
DROP TABLE hagg_e;
RESET max_parallel_workers_per_gather;
SELECT avg(v) FROM hagg_p;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
DROP TABLE hagg_p;
-- the aggregates are parallel safe with a combine function
SELECT aggfnoid::regprocedure, aggtransfn, aggcombinefn, aggfinalfn, aggtranstype::regtype, agginitval
FROM pg_aggregate WHERE aggfnoid IN ('avg(halfvec)'::regprocedure, 'sum(halfvec)'::regprocedure)
ORDER BY 1::text;
SELECT proname, proparallel FROM pg_proc
WHERE oid IN ('avg(halfvec)'::regprocedure, 'sum(halfvec)'::regprocedure) ORDER BY 1;

-- the state functions called directly (outside an aggregate they copy)
SELECT halfvec_accum('{0}', '[1,2]'), halfvec_accum('{1,1,2}', '[3,0.1]');
-- two states of no rows have no dimension to combine, as in pgvector
SELECT halfvec_combine('{0}', '{0}');
SELECT halfvec_combine('{0}', '{2,3,4}'), halfvec_combine('{2,3,4}', '{0}'),
	halfvec_combine('{1,1,2}', '{2,3,4}');
SELECT halfvec_avg('{2,3,4}'), halfvec_avg('{0}') IS NULL AS empty, halfvec_avg('{3,0.3}');
-- errors: dimensions, and means beyond half's range
SELECT pg_temp.try($$SELECT halfvec_accum('{1,1}', '[1,2]')$$);
SELECT pg_temp.try($$SELECT halfvec_combine('{1,1}', '{1,1,1}')$$);
SELECT pg_temp.try($$SELECT halfvec_avg('{1,65520}')$$);
SELECT pg_temp.try($$SELECT halfvec_avg('{1,1e300}')$$);
SELECT pg_temp.try($$SELECT halfvec_avg('{1,NaN}')$$);
SELECT pg_temp.try($$SELECT halfvec_avg('{1}')$$);
-- the first row's elements are the sums, -0 included, as for vector
SELECT avg(v) FROM (VALUES ('[-0,1]'::halfvec)) t(v);
SELECT avg(v) FROM (VALUES ('[-0,1]'::halfvec), ('[-0,3]')) t(v);
-- a sum that reaches infinity is an overflow, as for vector
SELECT pg_temp.try($$SELECT halfvec_accum('{1,Infinity}', '[1]')$$);
