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
RESET omenhnsw.iterative_scan;
RESET omenhnsw.max_scan_tuples;
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

-- omenhnsw.scan_mem_multiplier (1..1000, default 1): an iterative scan may
-- use work_mem times this much memory; under a tiny work_mem a larger
-- multiplier lets it go further
SHOW omenhnsw.scan_mem_multiplier;
SET omenhnsw.scan_mem_multiplier = 0;
SET omenhnsw.scan_mem_multiplier = 1001;
SET omenhnsw.scan_mem_multiplier = 1000;
RESET omenhnsw.scan_mem_multiplier;
CREATE TABLE mm (id int, v vector(2));
INSERT INTO mm SELECT i, ARRAY[sin(i), cos(i * 1.7)] FROM generate_series(1, 5000) i;
CREATE INDEX mm_l2 ON mm USING omenhnsw (v vector_l2_ops);
CREATE TEMP TABLE mm_runs (multiplier int, n bigint);
SET work_mem = '64kB';
SET omenhnsw.ef_search = 10;
SET omenhnsw.max_scan_tuples = 100000;
INSERT INTO mm_runs SELECT 1, count(*) FROM (SELECT id FROM mm ORDER BY v <-> '[0.5,0.5]') s;
SET omenhnsw.scan_mem_multiplier = 1000;
INSERT INTO mm_runs SELECT 1000, count(*) FROM (SELECT id FROM mm ORDER BY v <-> '[0.5,0.5]') s;
-- work_mem stops the scan past its first batch, short of the table; 1000
-- times that reaches every row
SELECT multiplier, n > 10 AS past_first_batch, n < 5000 AS stopped_by_memory
FROM mm_runs WHERE multiplier = 1;
SELECT multiplier, n FROM mm_runs WHERE multiplier = 1000;
RESET work_mem;
RESET omenhnsw.ef_search;
RESET omenhnsw.max_scan_tuples;
RESET omenhnsw.scan_mem_multiplier;

-- pgvector's settings, as a migrating application sets them, take effect on
-- omenhnsw scans where the omenhnsw. setting was not set; a set omenhnsw.
-- setting wins, and a value omenhnsw cannot take is ignored with a WARNING.
-- Without iterative scans a scan returns ef_search rows of this one segment.
SET omenhnsw.ef_search = 10;
SELECT it_count('[0.5,0.5]') AS omen_strict;
RESET omenhnsw.ef_search;
SET hnsw.iterative_scan = off;
SELECT it_count('[0.5,0.5]') AS hnsw_off;
SET hnsw.ef_search = 7;
SELECT it_count('[0.5,0.5]') AS hnsw_ef_7;
SET omenhnsw.ef_search = 12;
SELECT it_count('[0.5,0.5]') AS omen_ef_12;
RESET omenhnsw.ef_search;
SET omenhnsw.iterative_scan = relaxed_order;
SELECT it_count('[0.5,0.5]') AS omen_relaxed;
RESET omenhnsw.iterative_scan;
SET hnsw.ef_search = 'many';
SELECT it_count('[0.5,0.5]') AS hnsw_ef_invalid;
RESET hnsw.ef_search;
SET hnsw.iterative_scan = 'sometimes';
SELECT it_count('[0.5,0.5]') AS hnsw_iterative_invalid;
RESET hnsw.iterative_scan;
-- SET LOCAL lasts for the transaction
BEGIN;
SET LOCAL hnsw.ef_search = 5;
SET LOCAL hnsw.iterative_scan = off;
SELECT it_count('[0.5,0.5]') AS hnsw_local;
COMMIT;
SELECT it_count('[0.5,0.5]') AS after_commit;
-- the bound on the nodes visited, and the memory multiplier
SET hnsw.iterative_scan = relaxed_order;
SET hnsw.ef_search = 10;
SET omenhnsw.max_scan_tuples = 1;
SELECT it_count('[0.5,0.5]') AS omen_bound_1 \gset
RESET omenhnsw.max_scan_tuples;
SET hnsw.max_scan_tuples = 1;
SELECT it_count('[0.5,0.5]') = :omen_bound_1 AS hnsw_max_scan_tuples,
	:omen_bound_1 < 200 AS bounded;
SET hnsw.max_scan_tuples = 0;
SELECT it_count('[0.5,0.5]') = 200 AS hnsw_max_scan_tuples_invalid;
SET work_mem = '64kB';
SET hnsw.max_scan_tuples = 100000;
SELECT count(*) < 5000 AS work_mem_bounds
FROM (SELECT id FROM mm ORDER BY v <-> '[0.5,0.5]') s;
SET hnsw.scan_mem_multiplier = 0.5;
SELECT count(*) < 5000 AS multiplier_invalid
FROM (SELECT id FROM mm ORDER BY v <-> '[0.5,0.5]') s;
SET hnsw.scan_mem_multiplier = 999.5;
SELECT count(*) AS hnsw_scan_mem_multiplier
FROM (SELECT id FROM mm ORDER BY v <-> '[0.5,0.5]') s;
RESET work_mem;
RESET hnsw.ef_search;
RESET hnsw.iterative_scan;
RESET hnsw.max_scan_tuples;
RESET hnsw.scan_mem_multiplier;
-- an entry point left deleted by VACUUM routes a search but takes no place
-- among its ef_search results: at ef_search 1 without iterative scans a
-- query near the deleted rows still gets the nearest live one
CREATE TABLE dl (id int, v vector(2));
INSERT INTO dl VALUES (1, '[14.57,10.75]'), (2, '[-11.69,-13.64]'), (3, NULL), (4, '[-1.32,9.28]'),
	(5, '[7.41,15.05]'), (6, '[4.21,2.40]'), (7, '[-4.30,-11.78]'), (8, '[6.65,1.00]');
CREATE INDEX dl_l2 ON dl USING omenhnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 4);
DELETE FROM dl WHERE id IN (1, 2, 7, 8);
VACUUM dl;
SET omenhnsw.ef_search = 1;
SET omenhnsw.iterative_scan = off;
SELECT q, (SELECT count(*) FROM (SELECT id FROM dl ORDER BY v <-> q LIMIT 1) s) AS n
FROM unnest(ARRAY['[-10.6,-12.4]', '[-4,-11]', '[14,10]', '[0,0]', '[7,15]']::vector[]) q;
RESET omenhnsw.ef_search;
RESET omenhnsw.iterative_scan;
DROP TABLE dl;
DROP TABLE it, mm, mm_runs;
DROP FUNCTION it_count(vector, int), it_run(text, int);
