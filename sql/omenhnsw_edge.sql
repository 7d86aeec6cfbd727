-- omenhnsw: NULLs, dimension checks, degenerate queries, empty tables, inserts
-- after the build, duplicates, unlogged and temporary tables.  Tables are tiny
-- and ef_search is high, so every search is exhaustive and results are exact;
-- omenhnsw_verify() checks the structure after every change.

-- NULL vectors are not indexed; zero vectors are not in a cosine index
CREATE TABLE n (id int, v vector(3));
SET enable_seqscan = off;
SET omenhnsw.ef_search = 200;
INSERT INTO n VALUES (1, '[1,0,0]'), (2, NULL), (3, '[2,1,0]'), (4, NULL), (5, '[0,3,1]');
CREATE INDEX n_l2 ON n USING omenhnsw (v vector_l2_ops);
CREATE INDEX n_cos ON n USING omenhnsw (v vector_cosine_ops);
INSERT INTO n VALUES (6, NULL), (7, '[0,0,0]');
SELECT * FROM omenhnsw_verify('n_l2');
SELECT * FROM omenhnsw_verify('n_cos');
SELECT id, v <-> '[0,0,0]' AS l2 FROM n ORDER BY v <-> '[0,0,0]' LIMIT 10;
SELECT id, round((v <=> '[1,1,1]')::numeric, 4) AS cos FROM n ORDER BY v <=> '[1,1,1]' LIMIT 10;
-- a zero query under cosine has no distances: every indexed row comes back
EXPLAIN (COSTS OFF) SELECT id FROM n ORDER BY v <=> '[0,0,0]' LIMIT 10;
SELECT id FROM n ORDER BY v <=> '[0,0,0]' LIMIT 10;
-- so does a NULL query (a sub-select keeps the planner from folding it)
EXPLAIN (COSTS OFF) SELECT id FROM n ORDER BY v <-> (SELECT NULL::vector) LIMIT 10;
SELECT id FROM n ORDER BY v <-> (SELECT NULL::vector) LIMIT 10;
SELECT id FROM n ORDER BY v <=> (SELECT NULL::vector) LIMIT 10;
-- a query with other dimensions than the index is an error, pgvector's
-- (the query's dimensions first), also when it is zero under cosine
\set VERBOSITY sqlstate
SELECT id FROM n ORDER BY v <-> '[1,2]' LIMIT 1;
\set VERBOSITY default
SELECT id FROM n ORDER BY v <-> '[1,2]' LIMIT 1;
SELECT id FROM n ORDER BY v <=> '[1,2,3,4]' LIMIT 1;
SELECT id FROM n ORDER BY v <=> '[0,0]' LIMIT 1;
DROP TABLE n;
-- an empty index returns no rows, whatever the query's dimensions
CREATE TABLE ne (v vector(3));
CREATE INDEX ne_l2 ON ne USING omenhnsw (v vector_l2_ops);
SELECT v FROM ne ORDER BY v <-> '[1,2]' LIMIT 1;
SELECT v FROM ne ORDER BY v <-> '[1,2,3,4,5]';
DROP TABLE ne;

-- a column without a typmod: the index takes its dimensions from the data
CREATE TABLE nt (id int, v vector);
INSERT INTO nt VALUES (1, '[1,2,3]'), (2, '[4,5,6]');
CREATE INDEX nt_idx ON nt USING omenhnsw (v vector_l2_ops);
INSERT INTO nt VALUES (3, '[1,2]');
INSERT INTO nt VALUES (3, '[1,2,3,4]');
INSERT INTO nt VALUES (3, '[7,8,9]');
SELECT * FROM omenhnsw_verify('nt_idx');
SELECT id FROM nt ORDER BY v <-> '[7,8,8]' LIMIT 5;
-- a build over mixed dimensions fails
DROP INDEX nt_idx;
INSERT INTO nt VALUES (4, '[1,2]');
CREATE INDEX nt_idx ON nt USING omenhnsw (v vector_l2_ops);
-- an empty index takes its dimensions from the first insert
DELETE FROM nt;
VACUUM nt;
CREATE INDEX nt_idx ON nt USING omenhnsw (v vector_l2_ops);
SELECT id FROM nt ORDER BY v <-> '[1,1]' LIMIT 5;
INSERT INTO nt VALUES (1, '[1,1]');
INSERT INTO nt VALUES (2, '[1,1,1]');
INSERT INTO nt VALUES (2, '[2,3]'), (3, '[-1,0]');
SELECT * FROM omenhnsw_verify('nt_idx');
SELECT id FROM nt ORDER BY v <-> '[1,2]' LIMIT 5;
DROP TABLE nt;

-- 2000 dimensions can be indexed.  The values are too wide to stay inline:
-- rows 1-5 are stored out of line, the constant rows 6 and 7 compressed
-- inline, so the build, inserts and the query all go through TOAST.
CREATE TABLE wide (id int, v vector(2000));
INSERT INTO wide SELECT i, ARRAY(SELECT i + j / 2000.0 FROM generate_series(1, 2000) j)
FROM generate_series(1, 4) i;
INSERT INTO wide SELECT 6, array_fill(7, ARRAY[2000]);
CREATE INDEX wide_idx ON wide USING omenhnsw (v vector_l2_ops);
INSERT INTO wide SELECT 5, ARRAY(SELECT -j / 2000.0 FROM generate_series(1, 2000) j);
INSERT INTO wide SELECT 7, array_fill(8, ARRAY[2000]);
SELECT * FROM omenhnsw_verify('wide_idx');
SELECT id FROM wide ORDER BY v <-> array_fill(0, ARRAY[2000])::vector LIMIT 10;
SELECT id FROM wide ORDER BY v <-> (SELECT v FROM wide WHERE id = 4) LIMIT 2;
DROP TABLE wide;
-- every dimension the type allows: 16,000 at the widest m (2-bit codes, vectors
-- spanning eight pages), built, inserted, scanned and verified, for each metric
CREATE TABLE widest (id int, v vector(16000));
INSERT INTO widest SELECT i, ARRAY(SELECT i + j / 16000.0 FROM generate_series(1, 16000) j)
FROM generate_series(1, 3) i;
CREATE INDEX widest_idx ON widest USING omenhnsw (v vector_l2_ops) WITH (m = 100, ef_construction = 200);
CREATE INDEX widest_ip ON widest USING omenhnsw (v vector_ip_ops);
CREATE INDEX widest_cos ON widest USING omenhnsw (v vector_cosine_ops);
CREATE INDEX widest_l1 ON widest USING omenhnsw (v vector_l1_ops);
INSERT INTO widest SELECT 4, array_fill(0, ARRAY[16000]);
INSERT INTO widest SELECT 5, ARRAY(SELECT -j / 16000.0 FROM generate_series(1, 16000) j);
SELECT i AS index, omenhnsw_verify(i) AS problem
FROM unnest(ARRAY['widest_idx', 'widest_ip', 'widest_cos', 'widest_l1']::regclass[]) i;
SELECT id FROM widest ORDER BY v <-> array_fill(0, ARRAY[16000])::vector LIMIT 5;
SELECT id FROM widest ORDER BY v <#> array_fill(1, ARRAY[16000])::vector LIMIT 5;
SELECT id FROM widest ORDER BY v <=> array_fill(-1, ARRAY[16000])::vector LIMIT 5;
SELECT id FROM widest ORDER BY v <+> array_fill(2.5, ARRAY[16000])::vector LIMIT 5;
DELETE FROM widest WHERE id IN (2, 5);
VACUUM widest;
SELECT i AS index, omenhnsw_verify(i) AS problem
FROM unnest(ARRAY['widest_idx', 'widest_ip', 'widest_cos', 'widest_l1']::regclass[]) i;
SELECT id FROM widest ORDER BY v <-> array_fill(0, ARRAY[16000])::vector LIMIT 5;
DROP TABLE widest;
-- a column without a typmod takes its dimension from the first vector,
-- built or inserted
CREATE TABLE wider (id int, v vector);
INSERT INTO wider SELECT 1, array_fill(1, ARRAY[3000]);
CREATE INDEX ON wider USING omenhnsw (v vector_l2_ops);
DELETE FROM wider;
CREATE INDEX wider_idx ON wider USING omenhnsw (v vector_l2_ops);
INSERT INTO wider SELECT i, array_fill(i, ARRAY[3000]) FROM generate_series(1, 5) i;
SELECT * FROM omenhnsw_verify('wider_idx');
SELECT id FROM wider ORDER BY v <-> array_fill(2.2, ARRAY[3000])::vector LIMIT 3;
INSERT INTO wider SELECT 6, array_fill(1, ARRAY[3001]);
DROP TABLE wider;

-- an index built on an empty table, then filled
CREATE TABLE e (id int, v vector(2));
CREATE INDEX e_idx ON e USING omenhnsw (v vector_l2_ops);
SELECT id FROM e ORDER BY v <-> '[0,0]' LIMIT 5;
INSERT INTO e VALUES (1, '[3,4]');
SELECT id FROM e ORDER BY v <-> '[0,0]' LIMIT 5;
INSERT INTO e SELECT i, ARRAY[i, (i * 7) % 13] FROM generate_series(2, 60) i;
SELECT * FROM omenhnsw_verify('e_idx');
SELECT count(*) FROM (SELECT id FROM e ORDER BY v <-> '[0,0]' LIMIT 100) s;
SELECT array(SELECT v <-> '[20,5]' FROM e ORDER BY v <-> '[20,5]' LIMIT 100) =
	array(SELECT v <-> '[20,5]' FROM e ORDER BY (v <-> '[20,5]') + 0 LIMIT 100) AS exact;
DROP TABLE e;

-- inserts after a build, one row at a time and in bulk
CREATE TABLE ins (id int, v vector(2));
INSERT INTO ins SELECT i, ARRAY[i, (i * 7) % 13] FROM generate_series(1, 20) i;
CREATE INDEX ins_idx ON ins USING omenhnsw (v vector_l2_ops);
INSERT INTO ins VALUES (21, '[10.5,6.5]');
INSERT INTO ins VALUES (22, '[-3,-3]');
INSERT INTO ins SELECT i, ARRAY[i / 2.0, (i * 5) % 17] FROM generate_series(23, 80) i;
SELECT * FROM omenhnsw_verify('ins_idx');
SELECT id FROM ins ORDER BY v <-> '[10.4,6.6]' LIMIT 1;
SELECT id FROM ins ORDER BY v <-> '[-2,-2]' LIMIT 1;
SELECT q, array(SELECT v <-> q FROM ins ORDER BY v <-> q LIMIT 100) =
	array(SELECT v <-> q FROM ins ORDER BY (v <-> q) + 0 LIMIT 100) AS exact,
	cardinality(array(SELECT id FROM ins ORDER BY v <-> q LIMIT 100)) AS n
FROM (VALUES ('[0,0]'::vector), ('[20,5]'), ('[40,16]')) qs(q);
DROP TABLE ins;

-- many duplicates: all of them are found, before and after more are inserted
CREATE TABLE dup (id int, v vector(3));
INSERT INTO dup SELECT i, '[1,1,1]' FROM generate_series(1, 50) i;
INSERT INTO dup SELECT 100 + i, ARRAY[i, -i, i % 3] FROM generate_series(1, 24) i;
CREATE INDEX dup_idx ON dup USING omenhnsw (v vector_l2_ops);
SELECT * FROM omenhnsw_verify('dup_idx');
SELECT count(*) FILTER (WHERE id <= 50) AS dups, count(*) AS total
FROM (SELECT id FROM dup ORDER BY v <-> '[1,1,1]' LIMIT 60) s;
SELECT bool_and(id <= 50) AS dups_first FROM (SELECT id FROM dup ORDER BY v <-> '[1,1,1]' LIMIT 50) s;
SELECT array(SELECT id FROM dup ORDER BY v <-> '[1,1,1]' LIMIT 60) @>
	array(SELECT id FROM dup WHERE id <= 50) AS all_dups;
INSERT INTO dup SELECT 50 + i, '[1,1,1]' FROM generate_series(1, 30) i;
INSERT INTO dup VALUES (125, '[1,1,1.5]');
SELECT * FROM omenhnsw_verify('dup_idx');
SELECT count(*) FILTER (WHERE id <= 80) AS dups, count(*) FILTER (WHERE id = 125) AS near, count(*) AS total
FROM (SELECT id FROM dup ORDER BY v <-> '[1,1,1]' LIMIT 81) s;
SELECT array(SELECT v <-> '[5,-5,2]' FROM dup ORDER BY v <-> '[5,-5,2]' LIMIT 200) =
	array(SELECT v <-> '[5,-5,2]' FROM dup ORDER BY (v <-> '[5,-5,2]') + 0 LIMIT 200) AS exact;
DROP TABLE dup;

-- unlogged and temporary tables
CREATE UNLOGGED TABLE ul (id int, v vector(2));
INSERT INTO ul SELECT i, ARRAY[i, (i * 7) % 13] FROM generate_series(1, 40) i;
CREATE INDEX ul_idx ON ul USING omenhnsw (v vector_l2_ops);
INSERT INTO ul VALUES (41, '[3.2,9.9]');
SELECT * FROM omenhnsw_verify('ul_idx');
SELECT relpersistence FROM pg_class WHERE relname = 'ul_idx';
SELECT id FROM ul ORDER BY v <-> '[3.1,10]' LIMIT 3;
SELECT array(SELECT v <-> '[7,7]' FROM ul ORDER BY v <-> '[7,7]' LIMIT 100) =
	array(SELECT v <-> '[7,7]' FROM ul ORDER BY (v <-> '[7,7]') + 0 LIMIT 100) AS exact;
DROP TABLE ul;
CREATE TEMP TABLE tt (id int, v vector(2));
INSERT INTO tt SELECT i, ARRAY[i, (i * 7) % 13] FROM generate_series(1, 40) i;
CREATE INDEX tt_idx ON tt USING omenhnsw (v vector_l2_ops);
INSERT INTO tt VALUES (41, '[3.2,9.9]');
SELECT * FROM omenhnsw_verify('tt_idx');
SELECT id FROM tt ORDER BY v <-> '[3.1,10]' LIMIT 3;
SELECT array(SELECT v <-> '[7,7]' FROM tt ORDER BY v <-> '[7,7]' LIMIT 100) =
	array(SELECT v <-> '[7,7]' FROM tt ORDER BY (v <-> '[7,7]') + 0 LIMIT 100) AS exact;
DROP TABLE tt;

-- a new entry point keeps its link to the old one, which may be the old
-- one's only way in, even when linking the new node moves other links into
-- its list: row 9 is the new entry point, and row 8, whose copy it is under
-- 8-bit codes, hands it three of its four links
CREATE TABLE oe (id int, v vector(2));
INSERT INTO oe VALUES (1, '[0.9850919842720032,2.6487998962402344]'),
	(2, '[1.9999999360571385e+38,-7.591970920562744]'),
	(3, '[9.999999350456404e-39,0]'), (4, '[-6.891655921936035,5]'),
	(5, '[4.555445671081543,1.0000000150474662e+30]'),
	(6, '[-9.909078598022461,13.924249649047852]');
CREATE INDEX oe_idx ON oe USING omenhnsw (v vector_l1_ops) WITH (m = 2);
INSERT INTO oe VALUES (7, '[1.401298464324817e-45,1.0000000200408773e+20]'),
	(8, '[-1.0000000150474662e+30,11.138070106506348]');
INSERT INTO oe VALUES (9, '[-1.0000000150474662e+30,476091756052480]');
SELECT * FROM omenhnsw_verify('oe_idx');
SELECT count(*) FROM (SELECT id FROM oe ORDER BY v <+> '[0,0]' LIMIT 100) s;
DROP TABLE oe;

RESET enable_seqscan;
RESET omenhnsw.ef_search;

-- A link names a search row in 4 bytes: its block, and its offset in as many
-- bits as a data page has rows (7 for the smallest rows, of 1 dimension at
-- m = 2), so search rows go on the first 2^25 blocks only.  The estimate of
-- a build past that raises the build's error; one just below does not.
SET maintenance_work_mem = '64MB';
SELECT index_bytes / 8192 AS blocks FROM omenhnsw_build_estimate(2000000000, 1, 2);
SELECT index_bytes / 8192 AS blocks FROM omenhnsw_build_estimate(2010000000, 1, 2);
RESET maintenance_work_mem;
