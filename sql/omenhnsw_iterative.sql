-- Iterative scans and their settings, as pgvector means them.
CREATE TABLE it (id int, v vector(2));
INSERT INTO it SELECT i, ARRAY[sin(i), cos(i * 1.7)] FROM generate_series(1, 200) i;
CREATE INDEX it_l2 ON it USING omenhnsw (v vector_l2_ops);
SET enable_seqscan = off;

-- omenhnsw.max_scan_tuples bounds the nodes a scan visits, not the rows it
-- returns: past the bound the scan searches no further but returns every
-- row it scored.  With a bound of 5, LIMIT 30 gets its 30 rows (the first
-- batch holds ef_search 40), and at ef_search 10 the scan returns more than
-- its first batch, but not the whole table.
CREATE FUNCTION it_count(q vector, k int DEFAULT NULL) RETURNS bigint
LANGUAGE sql AS $$
	SELECT count(*) FROM (SELECT id FROM it ORDER BY v <-> q LIMIT k) s
$$;
SET omenhnsw.max_scan_tuples = 5;
SET omenhnsw.iterative_scan = relaxed_order;
SELECT it_count('[0.5,0.5]', 30) AS relaxed, it_count('[0,-1]', 30) AS relaxed2;
SET omenhnsw.iterative_scan = strict_order;
SELECT it_count('[0.5,0.5]', 30) AS strict, it_count('[0,-1]', 30) AS strict2;
SET omenhnsw.ef_search = 10;
CREATE TEMP TABLE it_runs (mode text, bound int, n bigint, n_limit bigint);
CREATE FUNCTION it_run(mode text, bound int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	PERFORM set_config('omenhnsw.iterative_scan', mode, true);
	PERFORM set_config('omenhnsw.max_scan_tuples', bound::text, true);
	INSERT INTO it_runs VALUES (mode, bound, it_count('[0.5,0.5]'), it_count('[0.5,0.5]', 200));
END
$$;
SELECT count(*) AS runs FROM (SELECT it_run(m, b)
	FROM unnest(ARRAY['strict_order', 'relaxed_order']) m,
	unnest(ARRAY[1, 5, 100, 20000]) b) s;
-- a bound below what the first batch visits gives the rows that batch
-- scored, more than ef_search; a larger one goes further, and the default
-- reaches every row of this table
SELECT mode, bound, n > 10 AS past_first_batch, n < 200 AS short_of_all,
	n = n_limit AS same_with_limit,
	n >= lag(n) OVER (PARTITION BY mode ORDER BY bound) AS at_least_as_far
FROM it_runs WHERE bound < 20000 ORDER BY mode, bound;
SELECT mode, n AS default_bound FROM it_runs WHERE bound = 20000 ORDER BY mode;
RESET omenhnsw.ef_search;
DROP TABLE it_runs;
