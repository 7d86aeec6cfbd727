-- omenhnsw: reloption validation, index definition errors and the ef_search GUC

CREATE TABLE opt (id int, v vector(3), w vector(3));
INSERT INTO opt SELECT i, ARRAY[i, i % 5, -i], ARRAY[1, 1, i] FROM generate_series(1, 10) i;

-- m: 2..100
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 1);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 101);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 1000000);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = -16);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 'sixteen');
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 99999999999999999999);
-- ef_construction: 4..1000
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (ef_construction = 3);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (ef_construction = 1001);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (ef_construction = 0);
-- ef_construction must be at least 2 * m (explicit m, and default ef_construction 64)
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 31);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 33);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 100, ef_construction = 199);
-- unknown options
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (lists = 100);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) WITH (ef_search = 10);
-- no index was left behind by the failures above
SELECT count(*) FROM pg_indexes WHERE tablename = 'opt';

-- the boundaries are accepted and stored
CREATE INDEX opt_min ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 2, ef_construction = 4);
CREATE INDEX opt_max ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 100, ef_construction = 1000);
CREATE INDEX opt_2m ON opt USING omenhnsw (v vector_l2_ops) WITH (m = 32, ef_construction = 64);
CREATE INDEX opt_default ON opt USING omenhnsw (v vector_l2_ops);
SELECT c.relname, c.reloptions, a.amname
FROM pg_class c JOIN pg_am a ON a.oid = c.relam
WHERE c.relname LIKE 'opt\_%' ORDER BY c.relname;
-- ALTER INDEX validates too
ALTER INDEX opt_default SET (m = 0);
ALTER INDEX opt_default SET (bogus = 1);
-- ef_construction below 2 * m is refused at the next build, as in pgvector
ALTER INDEX opt_default SET (m = 40);
REINDEX INDEX opt_default;
CREATE UNLOGGED TABLE opt_u (v vector(3));
CREATE INDEX ON opt_u USING omenhnsw (v vector_l2_ops) WITH (m = 40);
DROP TABLE opt_u;
-- a valid change is accepted and the index is rebuilt with it
ALTER INDEX opt_default SET (m = 20);
REINDEX INDEX opt_default;
SELECT reloptions FROM pg_class WHERE relname = 'opt_default';
SELECT * FROM omenhnsw_verify('opt_default');
DROP INDEX opt_min, opt_max, opt_2m, opt_default;

-- definitions the access method cannot support
CREATE INDEX ON opt USING omenhnsw (id);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops, w vector_l2_ops);
CREATE UNIQUE INDEX ON opt USING omenhnsw (v vector_l2_ops);
CREATE INDEX ON opt USING omenhnsw (v vector_l2_ops) INCLUDE (id);
CREATE INDEX ON opt USING omenhnsw (v int4_ops);
-- the operator classes, their ordering operators and the distance bound
SELECT opc.opcname, opr.oprname, amop.amoppurpose, amop.amopstrategy
FROM pg_opclass opc
JOIN pg_am am ON am.oid = opc.opcmethod
JOIN pg_amop amop ON amop.amopfamily = opc.opcfamily
JOIN pg_operator opr ON opr.oid = amop.amopopr
WHERE am.amname = 'omenhnsw' AND opc.opcintype = 'vector'::regtype
ORDER BY opc.opcname;

-- omenhnsw.ef_search: 1..1000, default 40 (the index above loaded the library)
SHOW omenhnsw.ef_search;
SET omenhnsw.ef_search = 0;
SET omenhnsw.ef_search = 1001;
SET omenhnsw.ef_search = -1;
SET omenhnsw.ef_search = 'many';
SET omenhnsw.ef_search = 1;
SHOW omenhnsw.ef_search;
SET omenhnsw.ef_search = 1000;
SHOW omenhnsw.ef_search;
RESET omenhnsw.ef_search;
SHOW omenhnsw.ef_search;
-- the prefix is reserved: typos are caught
SET omenhnsw.ef_serach = 100;
-- SET LOCAL is undone at transaction end
BEGIN;
SET LOCAL omenhnsw.ef_search = 200;
SHOW omenhnsw.ef_search;
COMMIT;
SHOW omenhnsw.ef_search;
-- iterative scans: strict order by default; other values are refused
SHOW omenhnsw.iterative_scan;
SET omenhnsw.iterative_scan = relaxed_order;
SHOW omenhnsw.iterative_scan;
SET omenhnsw.iterative_scan = off;
SET omenhnsw.iterative_scan = strict;
SET omenhnsw.iterative_scan = on;
RESET omenhnsw.iterative_scan;
SHOW omenhnsw.max_scan_tuples;
SET omenhnsw.max_scan_tuples = 1;
SET omenhnsw.max_scan_tuples = 0;
SET omenhnsw.max_scan_tuples = -5;
SET omenhnsw.max_scan_tuples = 1e12;
RESET omenhnsw.max_scan_tuples;

DROP TABLE opt;
