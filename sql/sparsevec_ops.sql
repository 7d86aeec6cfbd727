-- sparsevec distances, norms, ordering and the btree operator class
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- distances: functions and operators; missing elements count as 0
SELECT a, b, l2_distance(a, b), a <-> b AS "<->", inner_product(a, b),
	   a <#> b AS "<#>", cosine_distance(a, b), a <=> b AS "<=>",
	   l1_distance(a, b), a <+> b AS "<+>"
FROM (VALUES
	('{1:3,2:4}/2'::sparsevec, '{2:1}/2'::sparsevec),
	('{1:3,2:4}/2', '{}/2'),
	('{}/2', '{}/2'),
	('{1:1,3:2,5:-1}/6', '{2:1,3:-2,6:4}/6'),
	('{2:1,3:-2,6:4}/6', '{1:1,3:2,5:-1}/6'),
	('{1:1}/3', '{1:1}/3'),
	('{1:1}/3', '{1:-1}/3'),
	('{1:1.1,2:3.3}/2', '{1:2.2,2:6.6}/2'),
	('{1000000000:2}/1000000000', '{1:1,1000000000:-1}/1000000000')) t(a, b);

-- the same distances as the dense vectors'
SELECT a <-> b = a::vector <-> b::vector AS l2,
	   a <#> b = a::vector <#> b::vector AS ip,
	   a <=> b = a::vector <=> b::vector AS cos,
	   a <+> b = a::vector <+> b::vector AS l1
FROM (VALUES ('{1:1,3:2,5:-1}/6'::sparsevec, '{2:1,3:-2,6:4}/6'::sparsevec),
	('{1:0.5,2:0.25}/4', '{3:0.125,4:-0.5}/4')) t(a, b);

-- squared L2 and negative inner product (index support functions)
SELECT sparsevec_l2_squared_distance('{1:3,2:4}/2', '{}/2'),
	   sparsevec_negative_inner_product('{1:3,2:4}/2', '{1:1,2:1}/2');

-- float4 sums, as pgvector: overflow gives Infinity
SELECT '{1:3e38,2:3e38}/2'::sparsevec <-> '{1:-3e38}/2' AS l2,
	   '{1:3e38,2:3e38}/2'::sparsevec <#> '{1:3e38,2:3e38}/2' AS ip,
	   '{1:3e38,2:3e38}/2'::sparsevec <+> '{1:-3e38,2:-3e38}/2' AS l1;

-- different dimensions
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	($$SELECT l2_distance('{1:3}/2'::sparsevec, '{2:1}/3')$$),
	($$SELECT '{1:3}/2'::sparsevec <-> '{2:1}/3'$$),
	($$SELECT inner_product('{1:3}/2'::sparsevec, '{2:1}/3')$$),
	($$SELECT '{1:3}/2'::sparsevec <#> '{2:1}/3'$$),
	($$SELECT '{1:3}/2'::sparsevec <=> '{2:1}/3'$$),
	($$SELECT '{1:3}/2'::sparsevec <+> '{2:1}/3'$$),
	($$SELECT sparsevec_l2_squared_distance('{1:3}/2', '{2:1}/3')$$),
	($$SELECT sparsevec_negative_inner_product('{1:3}/2', '{2:1}/3')$$)) t(stmt);

-- norms, in double precision
SELECT v, l2_norm(v) FROM (VALUES ('{1:3,2:4}/2'::sparsevec), ('{}/2'),
	('{1:3e38,2:3e38}/2'), ('{1:1e-45}/5')) t(v);
-- normalize: a zero vector stays zero; an element that rounds to 0 is dropped
SELECT v, l2_normalize(v) FROM (VALUES ('{1:3,2:4}/2'::sparsevec), ('{}/2'),
	('{1:-2}/3'), ('{1:3e38,2:1e-45}/2'), ('{1:1e-45,3:1e-45}/3')) t(v);

-- ordering: as the dense vectors element by element, then dimensions
SELECT a, b, sparsevec_cmp(a, b), a < b AS lt, a <= b AS le, a = b AS eq,
	   a <> b AS ne, a >= b AS ge, a > b AS gt
FROM (VALUES
	('{1:1}/3'::sparsevec, '{1:2}/3'::sparsevec),
	('{1:1}/3', '{1:1}/3'),
	('{1:1}/3', '{1:1}/4'),
	('{2:1}/3', '{1:1}/3'),
	('{2:-1}/3', '{}/3'),
	('{}/3', '{}/3'),
	('{1:1}/3', '{1:1,3:-1}/5'),
	('{1:1}/3', '{1:1,4:-1}/5'),
	('{1:1,3:1}/5', '{1:1}/2'),
	('{3:1}/3', '{1:0.5}/3')) t(a, b);
CREATE TABLE ops_t (id int, v sparsevec);
INSERT INTO ops_t VALUES (1, '{1:1}/3'), (2, '{}/3'), (3, '{2:-1}/3'),
	(4, '{1:1,2:1}/3'), (5, '{1:-1}/3'), (6, '{1:1}/2'), (7, '{3:5}/4'),
	(8, '{}/1'), (9, NULL), (10, '{1:1}/3');
SELECT id, v FROM ops_t ORDER BY v, id;
-- the order agrees with the dense vectors'
SELECT array_agg(id ORDER BY v, id) = array_agg(id ORDER BY v::vector, id) AS same_order
FROM ops_t;
-- btree: index scans, uniqueness, DISTINCT, GROUP BY
CREATE INDEX ops_t_v ON ops_t (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ops_t WHERE v = '{1:1}/3';
SELECT id FROM ops_t WHERE v = '{1:1}/3' ORDER BY id;
SELECT id FROM ops_t WHERE v < '{}/3' ORDER BY id;
RESET enable_seqscan;
SELECT v, count(*) FROM ops_t GROUP BY v ORDER BY v;
SELECT count(DISTINCT v) FROM ops_t;
SELECT pg_temp.try('CREATE UNIQUE INDEX ops_t_u ON ops_t (v)');
DELETE FROM ops_t WHERE id = 10;
SELECT pg_temp.try('CREATE UNIQUE INDEX ops_t_u ON ops_t (v)');
SELECT pg_temp.try($$INSERT INTO ops_t VALUES (11, '{3:5}/4')$$);
DROP TABLE ops_t;
