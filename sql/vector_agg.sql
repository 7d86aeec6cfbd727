-- avg(vector) and sum(vector)
CREATE TABLE agg_t (g int, v vector);
INSERT INTO agg_t VALUES
	(1, '[1,2,3]'), (1, '[3,4,5]'), (1, NULL), (2, '[-1,0,1]'), (3, NULL);
SELECT avg(v), sum(v), count(v) FROM agg_t WHERE g = 1;
SELECT g, avg(v), sum(v) FROM agg_t GROUP BY g ORDER BY g;
SELECT avg(v), sum(v) FROM agg_t WHERE false;
SELECT avg(v) FROM (VALUES ('[1]'::vector), ('[2]'), ('[2]')) t(v);
-- hashed grouping keeps one state per group
SET enable_sort = off;
SELECT g % 3 AS k, avg(v), sum(v)
FROM (SELECT i AS g, ARRAY[i, 2 * i]::vector AS v FROM generate_series(1, 30) i) s
GROUP BY k ORDER BY k;
RESET enable_sort;
-- running window average: the final function sees each state in turn
SELECT g, v, avg(v) OVER (ORDER BY g, v), sum(v) OVER (ORDER BY g, v)
FROM agg_t WHERE v IS NOT NULL ORDER BY g, v;

-- dimension mismatch
SELECT avg(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);
SELECT sum(v) FROM (VALUES ('[1,2]'::vector), ('[1,2,3]')) t(v);

-- parallel aggregation combines partial states
CREATE TABLE agg_p (v vector);
INSERT INTO agg_p SELECT ARRAY[i % 10, i % 7, 1]::vector FROM generate_series(1, 10000) i;
ANALYZE agg_p;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM agg_p;
SELECT avg(v), sum(v) FROM agg_p;
-- partial aggregates that saw no rows combine to no rows
CREATE TABLE agg_e (v vector);
EXPLAIN (COSTS OFF) SELECT avg(v), sum(v) FROM agg_e;
SELECT avg(v) IS NULL AS empty_avg, sum(v) IS NULL AS empty_sum FROM agg_e;
DROP TABLE agg_e;
RESET max_parallel_workers_per_gather;
SELECT avg(v), sum(v) FROM agg_p;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;

-- the state functions called directly (outside an aggregate they copy)
SELECT vector_accum('{0}', '[1,2]');
SELECT vector_accum('{1,1,2}', '[3,4]');
SELECT vector_combine('{0}', '{2,3,4}'), vector_combine('{2,3,4}', '{0}'),
	vector_combine('{1,1,2}', '{2,3,4}'), vector_combine('{0}', '{0}');
SELECT vector_avg('{2,3,4}'), vector_avg('{0}') IS NULL AS empty;
-- bad states are errors
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	('SELECT vector_avg(''{}'')'),
	('SELECT vector_avg(''{{1,2}}'')'),
	('SELECT vector_avg(''{1,NULL}'')'),
	('SELECT vector_avg(''{1}'')'),
	('SELECT vector_avg(''{1,1e300}'')'),
	('SELECT vector_avg(''{1,NaN}'')'),
	('SELECT vector_accum(''{1,1}'', ''[1,2]'')'),
	('SELECT vector_accum(''{}'', ''[1,2]'')'),
	('SELECT vector_avg(vector_accum(''{1,Infinity}'', ''[1]''))'),
	('SELECT vector_combine(''{1,1}'', ''{1,1,1}'')'),
	('SELECT vector_combine(''{1,1e308}'', ''{1,1e308}'')'),
	('SELECT vector_combine(''{1,NULL}'', ''{0}'')'),
	('SELECT vector_combine(''{0}'', array_fill(1.0::float8, ARRAY[16002]))')) t(stmt);

DROP TABLE agg_t, agg_p;
