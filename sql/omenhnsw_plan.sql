-- The planner's choice between omenhnsw and other plans: the index serves
-- nearest-neighbour queries, with or without filters that keep a fair
-- share of the rows; a filter that keeps very few rows goes to an ordinary
-- index and a sort; without ORDER BY distance omenhnsw is never used.
SET client_min_messages = warning;
CREATE TABLE plan_items (id int, cat int, emb vector(64));
INSERT INTO plan_items
SELECT i, i % 1000,
	('[' || array_to_string(array(SELECT round(sin(i * 0.37 + j * 1.3)::numeric, 3)
								  FROM generate_series(1, 64) j), ',') || ']')::vector
FROM generate_series(1, 20000) i;
CREATE INDEX plan_items_emb ON plan_items USING omenhnsw (emb vector_l2_ops);
CREATE INDEX plan_items_cat ON plan_items (cat);
ANALYZE plan_items;
CREATE TEMP TABLE q AS SELECT emb FROM plan_items WHERE id = 77;

-- nearest neighbours: the index
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10;
-- filters keeping 50% and 10% of the rows: still the index, filtered
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items WHERE cat < 500 ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items WHERE cat < 100 ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10;
-- 0.5% and 0.1%: the btree index finds the few rows, a sort orders them
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items WHERE cat < 5 ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items WHERE cat = 3 ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10;
-- a large LIMIT costs more visits than sorting the table
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10000;
-- on a table of cheap distances too: without LIMIT every row is wanted,
-- more than a search reaches, and a filter keeping 2% of the rows leaves
-- about one of a first batch of 40 for a LIMIT of 20; both sort the table,
-- with iterative scans and without
CREATE TABLE plan_low (id int, cat int, emb vector(3));
INSERT INTO plan_low
SELECT i, i % 50, ARRAY[sin(i), cos(i * 0.7), sin(i * 1.9)] FROM generate_series(1, 10000) i;
CREATE INDEX ON plan_low USING omenhnsw (emb vector_l2_ops);
ANALYZE plan_low;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_low ORDER BY emb <-> '[0.1,0.2,0.3]';
SET omenhnsw.iterative_scan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_low ORDER BY emb <-> '[0.1,0.2,0.3]';
EXPLAIN (COSTS OFF)
SELECT id FROM plan_low WHERE cat = 7 ORDER BY emb <-> '[0.1,0.2,0.3]' LIMIT 20;
SELECT count(*) FROM (SELECT id FROM plan_low ORDER BY emb <-> '[0.1,0.2,0.3]') a;
SELECT count(*) FROM (SELECT id FROM plan_low WHERE cat = 7
					  ORDER BY emb <-> '[0.1,0.2,0.3]' LIMIT 20) a;
RESET omenhnsw.iterative_scan;
DROP TABLE plan_low;
-- no ORDER BY distance: never omenhnsw, even with sequential scans off
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items WHERE emb IS NOT NULL;
-- ... also where it is the table's only index and the query reads no column
CREATE TABLE plan_only (emb vector(2));
INSERT INTO plan_only SELECT ARRAY[i, -i] FROM generate_series(1, 5000) i;
CREATE INDEX ON plan_only USING omenhnsw (emb vector_l2_ops);
EXPLAIN (COSTS OFF)
SELECT count(*) FROM plan_only;
SELECT count(*) FROM plan_only;
DROP TABLE plan_only;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items ORDER BY id LIMIT 10;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q) DESC LIMIT 10;
RESET enable_seqscan;
-- without iterative scans a filtered query costs only the first batch
SET omenhnsw.iterative_scan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM plan_items WHERE cat < 100 ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10;
RESET omenhnsw.iterative_scan;
-- a filter keeping 1% of the rows still gets 10 rows from the index, in
-- order; without iterative scans the first batch holds fewer
SET enable_bitmapscan = off;
SET enable_seqscan = off;
SELECT count(*) AS rows, bool_and(d >= prev) AS ordered
FROM (SELECT d, lag(d, 1, 0::float8) OVER (ORDER BY n) AS prev
	  FROM (SELECT emb <-> (SELECT emb FROM q) AS d, row_number() OVER () AS n
			FROM (SELECT emb FROM plan_items WHERE cat % 100 = 7
				  ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10) l) r) o;
SET omenhnsw.iterative_scan = off;
SELECT count(*) < 10 AS fewer
FROM (SELECT id FROM plan_items WHERE cat % 100 = 7
	  ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10) l;
RESET omenhnsw.iterative_scan;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- a distance only ORDER BY needs is not computed again per returned row,
-- which would read each row's vector, in a subquery too; one the query
-- returns is, and so is one that row locks above the scan carry along
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM plan_items ORDER BY (SELECT emb FROM q) <-> emb LIMIT 10;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id, emb <-> (SELECT emb FROM q) AS d FROM plan_items ORDER BY d LIMIT 10;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10 FOR UPDATE;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM (SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q)
				LIMIT 10) s ORDER BY id;
-- a subquery scan that reads the junk column by position, and a LIMIT WITH
-- TIES, which compares the distances, keep it
SELECT count(*) FROM (SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q)
					  LIMIT 5) s WHERE s.id > 0;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT count(*) FROM (SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q)
					  LIMIT 5) s WHERE s.id > 0;
SELECT count(*) FROM (SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q)
					  FETCH FIRST 5 ROWS WITH TIES) s;
EXPLAIN (VERBOSE, COSTS OFF)
SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q) FETCH FIRST 5 ROWS WITH TIES;
CREATE FUNCTION pg_temp.ties() RETURNS SETOF int LANGUAGE plpgsql AS $$
BEGIN
	RETURN QUERY SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q)
		FETCH FIRST 5 ROWS WITH TIES;
END $$;
SELECT count(*) FROM pg_temp.ties();
-- ... and the rows are the same as with the distance computed
SELECT array_agg(id) = (SELECT array_agg(id)
						FROM (SELECT id, emb <-> (SELECT emb FROM q) AS d
							  FROM plan_items ORDER BY d LIMIT 10) l) AS same
FROM (SELECT id FROM plan_items ORDER BY emb <-> (SELECT emb FROM q) LIMIT 10) l;
-- the distance's cost grows with the dimensions: a typmod of 64 costs less
-- than the default assumed when there is none
CREATE FUNCTION pg_temp.plan_cost(query text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	plan json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
	RETURN (plan -> 0 -> 'Plan' ->> 'Total Cost')::float8;
END $$;
SELECT pg_temp.plan_cost('SELECT emb <-> emb FROM plan_items') <
	pg_temp.plan_cost('SELECT emb::vector <-> emb::vector FROM plan_items') AS cheaper;
DROP TABLE plan_items;
