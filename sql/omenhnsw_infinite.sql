-- Infinite distances are ordinary values of the order, not "gone" nodes: an
-- index scan returns every row, ordered as PostgreSQL orders float8
-- (-Infinity, finite values, Infinity), after builds and after inserts, for
-- all four operators, with and without iterative scans.  omenhnsw_verify
-- finds every element reachable.
SET enable_seqscan = off;

-- whether the index returns, for query q, the k nearest distances (all rows
-- when k is NULL) in the exact order; ties may come in any order
CREATE FUNCTION inf_check(tab regclass, op text, q vector, k int DEFAULT NULL)
RETURNS bool LANGUAGE plpgsql AS $$
DECLARE
	got float8[];
	want float8[];
BEGIN
	-- the index, also when an earlier call in this transaction turned it off
	SET LOCAL enable_indexscan = on;
	SET LOCAL enable_seqscan = off;
	EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM %s ORDER BY v %s $1 LIMIT $2) s',
				   op, tab, op) INTO got USING q, k;
	SET LOCAL enable_indexscan = off;
	SET LOCAL enable_seqscan = on;
	EXECUTE format('SELECT array_agg(d ORDER BY d) FROM (SELECT v %s $1 AS d FROM %s WHERE v IS NOT NULL) s',
				   op, tab) INTO want USING q;
	IF op = '<=>' THEN
		-- zero vectors are not in a cosine index
		EXECUTE format('SELECT array_agg(d ORDER BY d) FROM (SELECT v %s $1 AS d FROM %s WHERE v IS NOT NULL AND vector_norm(v) > 0) s',
					   op, tab) INTO want USING q;
	END IF;
	IF k IS NOT NULL THEN
		want := want[1:k];
	END IF;
	IF got IS DISTINCT FROM want THEN
		RAISE NOTICE '% % %: got %, want %', tab, op, q, got, want;
	END IF;
	RETURN got IS NOT DISTINCT FROM want;
END
$$;

-- issue 18's table: every row but one is at an infinite L2 distance
CREATE TABLE inf1 (id int, v vector(1));
INSERT INTO inf1 SELECT i, ARRAY[i]::vector FROM generate_series(1, 20) i;
INSERT INTO inf1 VALUES (100, '[1e20]');
CREATE INDEX inf1_l2 ON inf1 USING omenhnsw (v vector_l2_ops);
SELECT id, v <-> '[1e20]' AS d FROM inf1 ORDER BY v <-> '[1e20]' LIMIT 1;
SELECT count(*) FROM (SELECT id FROM inf1 ORDER BY v <-> '[1e20]' LIMIT 5) s;
SELECT inf_check('inf1', '<->', '[1e20]'), inf_check('inf1', '<->', '[1e20]', 5),
	inf_check('inf1', '<->', '[3]', 5);
SELECT * FROM omenhnsw_verify('inf1_l2');

-- distances that overflow float4 under L1 and L2, finite ones among them
CREATE TABLE inf2 (id int, v vector(2));
INSERT INTO inf2 VALUES (1, '[3e38,0]'), (2, '[-3e38,1]'), (3, '[2e38,2e38]'),
	(4, '[0,0]'), (5, '[1,1]');
CREATE INDEX inf2_l1 ON inf2 USING omenhnsw (v vector_l1_ops);
CREATE INDEX inf2_l2 ON inf2 USING omenhnsw (v vector_l2_ops);
SELECT v <+> '[-3e38,0]' AS d FROM inf2 ORDER BY v <+> '[-3e38,0]' LIMIT 3;
SELECT inf_check('inf2', '<+>', '[-3e38,0]'), inf_check('inf2', '<->', '[-3e38,0]'),
	inf_check('inf2', '<+>', '[3e38,3e38]', 2), inf_check('inf2', '<->', '[1,0]', 3);

-- inner products that overflow to -Infinity and +Infinity
CREATE TABLE inf3 (id int, v vector(1));
INSERT INTO inf3 VALUES (1, '[1e30]'), (2, '[2e30]'), (3, '[-1e30]'), (4, '[1]'), (5, '[0]');
CREATE INDEX inf3_ip ON inf3 USING omenhnsw (v vector_ip_ops);
SELECT v <#> '[1e30]' AS d FROM inf3 ORDER BY v <#> '[1e30]';
SELECT inf_check('inf3', '<#>', '[1e30]'), inf_check('inf3', '<#>', '[-1e30]'),
	inf_check('inf3', '<#>', '[1e30]', 1);
-- a bound of -Infinity keeps the rows at -Infinity
SELECT id FROM inf3 WHERE v <#> '[1e30]' <= '-Infinity' ORDER BY v <#> '[1e30]', id;

-- a larger table for all four operators: ordinary rows and rows whose
-- distances overflow, built, then grown by inserts of both kinds
CREATE TABLE inf4 (id int, v vector(2));
INSERT INTO inf4 SELECT i, ARRAY[(i * 37) % 23 - 11, (i * 11) % 17 - 8]
	FROM generate_series(1, 150) i;
INSERT INTO inf4 SELECT 1000 + i,
	ARRAY[(CASE i % 4 WHEN 0 THEN 3e38 WHEN 1 THEN -3e38 WHEN 2 THEN 2e38 ELSE 1e20 END)
		  * (1 + (i % 7) * 0.01),
		  (CASE i % 3 WHEN 0 THEN 3e38 WHEN 1 THEN -2e38 ELSE i % 5 END)]
	FROM generate_series(1, 81) i;
CREATE INDEX inf4_l2 ON inf4 USING omenhnsw (v vector_l2_ops);
CREATE INDEX inf4_ip ON inf4 USING omenhnsw (v vector_ip_ops);
CREATE INDEX inf4_cos ON inf4 USING omenhnsw (v vector_cosine_ops);
CREATE INDEX inf4_l1 ON inf4 USING omenhnsw (v vector_l1_ops);
SELECT i AS index, omenhnsw_verify(i) AS problem
FROM unnest(ARRAY['inf4_l2', 'inf4_ip', 'inf4_cos', 'inf4_l1']::regclass[]) i;
CREATE TABLE inf_queries (q vector(2));
INSERT INTO inf_queries VALUES ('[0,0]'), ('[3e38,3e38]'), ('[-3e38,1]'), ('[1e20,1]'), ('[5,-2]');
-- (<=> computes in float4 and gives NaN or 1 where a norm or a dot product
-- overflows, as in pgvector.  Scaled copies of a vector share a node under
-- cosine, as pgvector's normalized copies do, and so the node's distance,
-- which for such a query may not be <=>'s for every copy: here only its
-- row counts are checked, and its order below for rows that share nothing)
CREATE FUNCTION inf_check_all(k int) RETURNS TABLE (op text, ok bigint, total bigint)
LANGUAGE sql AS $$
	SELECT op, count(*) FILTER (WHERE inf_check('inf4', op, q, k)), count(*)
	FROM inf_queries, unnest(ARRAY['<->', '<#>', '<+>']) op
	GROUP BY op ORDER BY op
$$;
-- every row, exactly ordered, when the search is exhaustive
SET omenhnsw.ef_search = 1000;
SELECT * FROM inf_check_all(NULL);
RESET omenhnsw.ef_search;
-- the nearest 10 at the default ef_search: under L1, one query whose
-- distances span 1 to 3e38 misses some of its ten (its codes cannot tell
-- the ordinary rows apart; an exhaustive search above finds them all)
SELECT * FROM inf_check_all(10);

INSERT INTO inf4 SELECT 2000 + i,
	ARRAY[(CASE i % 4 WHEN 0 THEN 3e38 WHEN 1 THEN -3e38 WHEN 2 THEN 2e38 ELSE 1e20 END)
		  * (1 + (i % 7) * 0.01),
		  (CASE i % 3 WHEN 0 THEN -3e38 WHEN 1 THEN 2e38 ELSE i % 5 END)]
	FROM generate_series(1, 81) i;
INSERT INTO inf4 SELECT 3000 + i, ARRAY[(i * 13) % 19 - 9, (i * 7) % 29 - 14]
	FROM generate_series(1, 50) i;
SELECT i AS index, omenhnsw_verify(i) AS problem
FROM unnest(ARRAY['inf4_l2', 'inf4_ip', 'inf4_cos', 'inf4_l1']::regclass[]) i;
SET omenhnsw.ef_search = 1000;
SELECT * FROM inf_check_all(NULL);
RESET omenhnsw.ef_search;
SELECT * FROM inf_check_all(10);

-- iterative scans go on through the rows at infinite distances, batch
-- after batch: relaxed order returns every row; strict order returns its
-- rows in order
CREATE FUNCTION inf_scan(op text, q vector, OUT n bigint, OUT sorted bool)
LANGUAGE plpgsql AS $$
DECLARE
	got float8[];
BEGIN
	EXECUTE format('SELECT array_agg(d) FROM (SELECT v %s $1 AS d FROM inf4 ORDER BY v %s $1) s',
				   op, op) INTO got USING q;
	n := cardinality(got);
	sorted := got = (SELECT array_agg(d ORDER BY d) FROM unnest(got) d);
END
$$;
SET omenhnsw.ef_search = 10;
SET omenhnsw.iterative_scan = relaxed_order;
SELECT op, bool_and((inf_scan(op, q)).n = (SELECT count(*) FROM inf4
		WHERE op <> '<=>' OR vector_norm(v) > 0)) AS every_row
FROM inf_queries, unnest(ARRAY['<->', '<#>', '<=>', '<+>']) op GROUP BY op ORDER BY op;
SET omenhnsw.iterative_scan = strict_order;
SELECT op, bool_and((inf_scan(op, q)).sorted) AS sorted,
	bool_and((inf_scan(op, q)).n >= 100) AS at_least_100
FROM inf_queries, unnest(ARRAY['<->', '<#>', '<+>']) op GROUP BY op ORDER BY op;
SET omenhnsw.iterative_scan = off;
SELECT q, (SELECT count(*) FROM (SELECT id FROM inf4 ORDER BY v <-> q) s) > 0 AS l2,
	(SELECT count(*) FROM (SELECT id FROM inf4 ORDER BY v <#> q) s) > 0 AS ip,
	(SELECT count(*) FROM (SELECT id FROM inf4 ORDER BY v <=> q) s) > 0 AS cos,
	(SELECT count(*) FROM (SELECT id FROM inf4 ORDER BY v <+> q) s) > 0 AS l1
FROM inf_queries ORDER BY q;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;

-- VACUUM's repair around deleted nodes keeps the links a node has to live
-- ones: under inner product the ordinary row 2 is no one's near neighbour,
-- and its ways in are back-links from rows with huge values
CREATE TABLE inf5 (id serial, v vector(1));
INSERT INTO inf5 (v) VALUES ('[-1e20]'), ('[8.93]'), ('[-1e30]'), ('[-3e38]'),
	('[2.13]'), ('[-1e-30]');
CREATE INDEX inf5_ip ON inf5 USING omenhnsw (v vector_ip_ops) WITH (m = 2, ef_construction = 10);
CREATE INDEX inf5_l2 ON inf5 USING omenhnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 10);
CREATE INDEX inf5_cos ON inf5 USING omenhnsw (v vector_cosine_ops) WITH (m = 2, ef_construction = 10);
CREATE INDEX inf5_l1 ON inf5 USING omenhnsw (v vector_l1_ops) WITH (m = 2, ef_construction = 10);
DELETE FROM inf5 WHERE id IN (5, 6);
VACUUM inf5;
SET omenhnsw.ef_search = 100;
SET omenhnsw.iterative_scan = strict_order;
SELECT id FROM inf5 WHERE id % 2 = 0 ORDER BY v <#> '[-12.096]';
SELECT q, inf_check('inf5', '<#>', q) AS ip, inf_check('inf5', '<->', q) AS l2,
	inf_check('inf5', '<=>', q) AS cos, inf_check('inf5', '<+>', q) AS l1
FROM unnest('{"[-12.096]","[12.096]","[1e-30]","[-3e38]","[1e30]"}'::vector[]) q;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;
SELECT * FROM omenhnsw_verify('inf5_ip');
SELECT * FROM omenhnsw_verify('inf5_l2');
SELECT * FROM omenhnsw_verify('inf5_cos');
SELECT * FROM omenhnsw_verify('inf5_l1');
-- rows 1 and 2 link to each other, and after VACUUM only the entry point
-- reaches them on level 0 (through deleted nodes): a scan seeds its search
-- with the entry point besides the node its descent finds, so iterative
-- scans return every row the verifier finds reachable
CREATE TABLE inf6 (id int, v vector(2));
INSERT INTO inf6 VALUES (1, '[1.0004964,-0.5002402]'), (2, '[-1.0000648,2.1310382]'),
	(3, '[3.0010263e+38,1.0003403e-30]'), (4, '[1.0003891e+30,1.0004209e+20]'),
	(5, '[12.506379,12.50408]'), (6, '[12.501312,-8.932119]'),
	(7, '[2.1312072,-1.000549]'), (8, '[-1.0003934e+20,1.0008147]'),
	(9, '[1.0006568e+20,0]'), (10, '[-8.934807,-1.0005243e+20]'),
	(11, '[1.000203e+30,1.0006214e+30]'), (12, '[0,-1.00032565e+20]'),
	(13, '[2.131291,-0.50046176]'), (14, '[2.1303797,-1.0004587]'),
	(15, '[2.131384,2.13001]'), (16, '[1.0002654e+30,1.0003897e+30]');
CREATE INDEX inf6_ip ON inf6 USING omenhnsw (v vector_ip_ops) WITH (m = 2, ef_construction = 10);
DELETE FROM inf6 WHERE id IN (5, 8, 10, 12, 14, 16);
VACUUM inf6;
SET omenhnsw.ef_search = 100;
SET omenhnsw.iterative_scan = strict_order;
SELECT q, inf_check('inf6', '<#>', q) AS ip
FROM unnest('{"[1.0003756,-1.0001699]","[0,-0.5000529]","[12.505815,-1.000952e+20]"}'::vector[]) q;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;
SELECT * FROM omenhnsw_verify('inf6_ip');
-- the node of row 2, far from all others, is the entry point and no node
-- links to it on level 0; the node of the last update, of a higher level,
-- becomes the entry point and links to it, so it stays reachable
CREATE TABLE inf7 (id int, v vector(2));
INSERT INTO inf7 VALUES (1, '[-5,0.00019389517547097057]'), (2, '[0,-5.074086855500295e+35]'),
	(5, '[-3,-1.4682581101441141e-39]'), (6, '[-1.0000000150474662e+30,3]'),
	(7, '[-4,-1.0393702983856201]'), (8, '[0,-3.22327231572217e-08]');
CREATE INDEX inf7_l1 ON inf7 USING omenhnsw (v vector_l1_ops) WITH (m = 2, ef_construction = 64);
UPDATE inf7 SET v = '[-11.525936126708984,-4.419930458068848]' WHERE id = 8;
UPDATE inf7 SET v = NULL WHERE id = 2;
UPDATE inf7 SET v = '[5.111249923706055,-11.264945983886719]' WHERE id = 7;
SELECT * FROM omenhnsw_verify('inf7_l1');

DROP TABLE inf1, inf2, inf3, inf4, inf5, inf6, inf7, inf_queries;
DROP FUNCTION inf_check_all(int);
DROP FUNCTION inf_scan(text, vector);
DROP FUNCTION inf_check(regclass, text, vector, int);

-- a vector whose norm overflows float4 has the cosine distance <=> gives
-- it (1 here, where its normalized copy would tie with the other row's 0)
CREATE TABLE cos_big (id int, v vector(1));
INSERT INTO cos_big VALUES (6, '[1e20]'), (16, '[10.6]');
CREATE INDEX ON cos_big USING omenhnsw (v vector_cosine_ops) WITH (m = 3);
SELECT id, v <=> '[3.96]' AS d FROM cos_big ORDER BY v <=> '[3.96]';
INSERT INTO cos_big VALUES (2, '[-3e38]'), (4, '[-1e-30]');
SELECT id, v <=> '[2]' AS d FROM cos_big ORDER BY v <=> '[2]';
SET omenhnsw.iterative_scan = off;
SELECT id, v <=> '[2]' AS d FROM cos_big ORDER BY v <=> '[2]';
RESET omenhnsw.iterative_scan;
DROP TABLE cos_big;
-- scaled copies of a vector are one direction: under cosine they share a
-- node, as pgvector's normalized copies do, so even a search of one node
-- returns them all
CREATE TABLE cos_dup (id int, v vector(1));
INSERT INTO cos_dup VALUES (1, '[-3]'), (2, '[-1]'), (3, '[3]'), (4, '[1]'), (5, '[-2]');
CREATE INDEX ON cos_dup USING omenhnsw (v vector_cosine_ops) WITH (m = 8, ef_construction = 16);
INSERT INTO cos_dup VALUES (6, '[2]'), (7, '[0.5]');
SET omenhnsw.ef_search = 1;
SET omenhnsw.iterative_scan = off;
SELECT id FROM (SELECT id FROM cos_dup ORDER BY v <=> '[4]') s ORDER BY id;
SELECT count(*) FROM (SELECT id FROM cos_dup ORDER BY v <=> '[-4]') s;
RESET omenhnsw.iterative_scan;
RESET omenhnsw.ef_search;
SELECT * FROM omenhnsw_verify('cos_dup_v_idx');
DROP TABLE cos_dup;
-- where the cosine operator's sum of squares of a vector is zero or
-- subnormal in float4, its distance is 0 or 2 by the sign of the dot
-- product, and past float4's range it is 1, whatever the direction: the
-- codes put such vectors there, so strict_order meets them in order
-- instead of dropping them after farther rows
CREATE TABLE cos_tiny (id int, v vector(2));
CREATE INDEX ON cos_tiny USING omenhnsw (v vector_cosine_ops) WITH (m = 8, ef_construction = 16);
INSERT INTO cos_tiny VALUES (9, '[-1.8593919,14.184717]'), (12, '[-1e-30,1e-30]');
SET omenhnsw.ef_search = 1000;
SELECT id, v <=> '[-1,3]' AS d FROM cos_tiny ORDER BY v <=> '[-1,3]';
RESET omenhnsw.ef_search;
DROP TABLE cos_tiny;
CREATE TABLE cos_huge (id int, v vector(2));
INSERT INTO cos_huge VALUES (1, '[-1e30,-3e38]'), (2, '[-5.859358,-15.02791]');
CREATE INDEX ON cos_huge USING omenhnsw (v vector_cosine_ops) WITH (m = 5, ef_construction = 10);
INSERT INTO cos_huge VALUES (3, '[2.1808598,0.8716676]'), (4, '[1e30,-1e-30]'), (5, '[15.306475,8.786455]');
UPDATE cos_huge SET v = '[9.649443,-14.718433]' WHERE id = 5;
UPDATE cos_huge SET v = '[8.415501,2.6449387]' WHERE id = 1;
SET omenhnsw.ef_search = 2;
SELECT id, v <=> '[-3,4]' AS d FROM cos_huge WHERE id > 2 ORDER BY v <=> '[-3,4]';
RESET omenhnsw.ef_search;
DROP TABLE cos_huge;
-- an inner product whose float4 terms overflow in opposite signs ranks
-- where its true sum does in the search too (the coded sum is recomputed
-- as the exact one is), not last
CREATE TABLE ip_lanes (id int, v vector(2));
INSERT INTO ip_lanes SELECT i, ARRAY[i, i]::vector FROM generate_series(1, 30) i;
INSERT INTO ip_lanes VALUES (100, '[3e38,-2.9e38]');
CREATE INDEX ON ip_lanes USING omenhnsw (v vector_ip_ops) WITH (m = 2, ef_construction = 8);
SET omenhnsw.ef_search = 2;
SELECT id, v <#> '[2,2]' AS d FROM ip_lanes ORDER BY v <#> '[2,2]' LIMIT 3;
RESET omenhnsw.ef_search;
DROP TABLE ip_lanes;
