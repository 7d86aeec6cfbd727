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
