-- VACUUM's statistics and cleanup when nothing or little is deleted
SET enable_seqscan = off;
CREATE TABLE vac (id int, v vector(3)) WITH (autovacuum_enabled = off);
INSERT INTO vac SELECT i, ARRAY[i, i % 7, i % 11]::vector FROM generate_series(1, 100) i;
CREATE INDEX vac_idx ON vac USING omenhnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
INSERT INTO vac SELECT i, ARRAY[i, i % 5, i % 3]::vector FROM generate_series(101, 150) i;

-- nothing to delete: no bulk delete runs, the cleanup still counts
VACUUM vac;
SELECT reltuples, relpages = pg_relation_size('vac_idx') / 8192 AS pages_right
FROM pg_class WHERE relname = 'vac_idx';
SELECT * FROM omenhnsw_verify('vac_idx');

-- after deletes, the live rows
DELETE FROM vac WHERE id % 10 = 0;
VACUUM vac;
SELECT reltuples, relpages = pg_relation_size('vac_idx') / 8192 AS pages_right
FROM pg_class WHERE relname = 'vac_idx';
SELECT * FROM omenhnsw_verify('vac_idx');
SELECT count(*) FROM (SELECT id FROM vac ORDER BY v <-> '[50,1,6]' LIMIT 200) s;

-- VACUUM (ANALYZE) and ANALYZE alone
VACUUM ANALYZE vac;
ANALYZE vac;
SELECT reltuples FROM pg_class WHERE relname = 'vac_idx';

DROP TABLE vac;

-- After most rows are deleted, the deleted nodes near a new row can form a
-- component that no live node links into and that links to no live node;
-- a descent through the upper levels, which VACUUM leaves as they are, can
-- end there.  The level-0 search of an insert is seeded with the entry
-- point as well, so the new rows still find neighbours and stay reachable.
CREATE TABLE vd (id int, v vector(1)) WITH (autovacuum_enabled = off);
INSERT INTO vd VALUES
	(0, '[-0.68]'), (1, '[-0.38]'), (2, '[-2.8]'), (3, '[-3.29]'), (4, '[4.45]'), (5, '[4.96]'),
	(6, '[-4.53]'), (7, '[2.02]'), (8, '[2.05]'), (9, '[-4.85]'), (10, '[3.53]'), (11, '[-4.65]'),
	(12, '[1.82]'), (13, '[3.15]'), (14, '[-0.13]'), (15, '[2.74]'), (16, '[4.78]'), (17, '[2.4]'),
	(18, '[-1.55]'), (19, '[0.89]'), (20, '[4.78]'), (21, '[4.73]'), (22, '[2.86]'), (23, '[-2.74]'),
	(24, '[-3.31]'), (25, '[2.08]'), (26, '[-4.16]'), (27, '[-2.35]'), (28, '[-1.24]'), (29, '[-4.58]'),
	(30, '[3.43]'), (31, '[4.72]'), (32, '[-1.02]'), (33, '[-4.97]'), (34, '[0.4]'), (35, '[0.46]'),
	(36, '[0.8]'), (37, '[-4.46]'), (38, '[-3.65]'), (39, '[4.07]'), (40, '[-0.01]'), (41, '[3.58]'),
	(42, '[-2.2]'), (43, '[4.19]'), (44, '[2.76]'), (45, '[4.48]'), (46, '[-0.52]'), (47, '[-4.62]'),
	(48, '[3.72]'), (49, '[1.04]');
CREATE INDEX vd_idx ON vd USING omenhnsw (v vector_l1_ops) WITH (m = 2, ef_construction = 64);
INSERT INTO vd VALUES (53, '[4.42]'), (63, '[4.28]');
DELETE FROM vd WHERE id IN (26, 43);
VACUUM vd;
DELETE FROM vd WHERE id NOT IN (7, 9, 13, 33, 46);
VACUUM vd;
INSERT INTO vd VALUES (79, '[4.32]'), (80, '[-2.57]'), (81, '[3.35]'), (82, '[-4.49]'), (83, '[-0.9]'),
	(84, '[2.46]'), (85, '[0.12]'), (86, '[2.58]'), (87, '[-3.27]'), (88, '[2.54]'),
	(89, '[0.81]'), (90, '[-0.26]'), (91, '[-1.29]'), (92, '[2.91]'), (93, '[4.01]');
SELECT * FROM omenhnsw_verify('vd_idx');
SET enable_seqscan = off;
SET omenhnsw.ef_search = 100;
SELECT count(*) FROM (SELECT id FROM vd ORDER BY v <+> '[4]' LIMIT 100) s;
RESET omenhnsw.ef_search;
RESET enable_seqscan;
DROP TABLE vd;
