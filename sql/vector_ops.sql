-- vector functions and operators (small integer inputs keep results exact
-- whichever distance kernel the CPU selects)

-- operator catalogue: every distance operator is its own commutator
SELECT oprname, oprcode::regprocedure, oprcom::regoperator AS commutator, oprnegate::regoperator AS negator
FROM pg_operator
WHERE oprleft = 'vector'::regtype AND oprright = 'vector'::regtype
ORDER BY oprname;

-- distances
SELECT '[1,2,3]'::vector <-> '[3,2,1]' AS l2,
	'[3,2,1]'::vector <-> '[1,2,3]' AS l2_swapped,
	l2_distance('[0,0]'::vector, '[3,4]') AS l2_fn,
	vector_l2_squared_distance('[0,0]', '[3,4]') AS l2sq;
SELECT '[1,2,3]'::vector <#> '[4,-5,6]' AS neg_ip,
	inner_product('[1,2,3]'::vector, '[4,-5,6]') AS ip,
	vector_negative_inner_product('[1,2,3]', '[4,-5,6]') AS neg_ip_fn;
SELECT '[1,2,3]'::vector <=> '[3,2,1]' AS cos,
	cosine_distance('[1,1]'::vector, '[2,2]') AS same_dir,
	cosine_distance('[1,0]'::vector, '[0,2]') AS orthogonal,
	cosine_distance('[1,1]'::vector, '[-1,-1]') AS opposite,
	cosine_distance('[0,0]'::vector, '[1,2]') AS zero_vector,
	cosine_distance('[0,0]'::vector, '[0,0]') AS both_zero;
SELECT '[1,2,3]'::vector <+> '[3,-2,1]' AS l1,
	l1_distance('[0,0]'::vector, '[-3,4]') AS l1_fn;
-- distance of a vector to itself
SELECT v <-> v AS l2, v <+> v AS l1, v <=> v AS cos
FROM (VALUES ('[5,-7,11,13]'::vector)) t(v);

-- functions
SELECT vector_dims('[1,2,3]'::vector), vector_dims('[0]'::vector);
SELECT vector_norm('[3,4]'), vector_norm('[0,0]'), vector_norm('[-1,-1,-1,-1]');
SELECT l2_normalize('[3,4]'::vector), l2_normalize('[0,0]'::vector), l2_normalize('[-2,0]'::vector),
	l2_normalize('[1e-45]'::vector);
SELECT subvector('[1,2,3,4,5]'::vector, 1, 3), subvector('[1,2,3,4,5]'::vector, 3, 2),
	subvector('[1,2,3,4,5]'::vector, 0, 2), subvector('[1,2,3,4,5]'::vector, 4, 10),
	subvector('[1,2,3,4,5]'::vector, -5, 10), subvector('[1,2,3,4,5]'::vector, 1, 2147483647);

-- arithmetic and concatenation
SELECT '[1,2,3]'::vector + '[4,5,6.5]' AS add,
	'[1,2,3]'::vector - '[4,5,6.5]' AS sub,
	'[1,2,3]'::vector * '[4,-5,0]' AS mul,
	'[1,2]'::vector || '[3]' AS concat;
SELECT ('[1,2]'::vector || '[3]') || '[4,5]';

-- ordering: elements first, then the shorter vector first, as for arrays
SELECT a, b, vector_cmp(a, b) AS cmp, a < b AS lt, a <= b AS le, a = b AS eq,
	a <> b AS ne, a >= b AS ge, a > b AS gt
FROM (VALUES
	('[1,2]'::vector, '[1,2]'::vector),
	('[1,2]', '[1,3]'),
	('[1,3]', '[1,2]'),
	('[1,2]', '[1,2,0]'),
	('[2]', '[1,2,3]'),
	('[-0]', '[0]')) t(a, b);

CREATE TABLE ops_t (id int, v vector);
INSERT INTO ops_t VALUES
	(1, '[3,1]'), (2, '[1,2]'), (3, '[1,2,3]'), (4, '[0,5]'), (5, '[1,2]'), (6, NULL);
SELECT id, v FROM ops_t ORDER BY v, id;
SELECT v, count(*) FROM ops_t GROUP BY v ORDER BY v;
SELECT DISTINCT v FROM ops_t WHERE v IS NOT NULL ORDER BY v DESC;
-- nearest neighbours by each distance
SELECT id, v <-> '[1,1]' AS l2 FROM ops_t WHERE vector_dims(v) = 2 ORDER BY v <-> '[1,1]', id;
SELECT id, v <#> '[1,1]' AS neg_ip FROM ops_t WHERE vector_dims(v) = 2 ORDER BY v <#> '[1,1]', id;
SELECT id, round((v <=> '[1,1]')::numeric, 6) AS cos FROM ops_t WHERE vector_dims(v) = 2 ORDER BY v <=> '[1,1]', id;
SELECT id, '[1,1]' <+> v AS l1 FROM ops_t WHERE vector_dims(v) = 2 ORDER BY '[1,1]' <+> v, id;

-- btree index (default operator class vector_ops)
CREATE INDEX ops_t_v ON ops_t (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM ops_t WHERE v = '[1,2]';
SELECT id FROM ops_t WHERE v = '[1,2]' ORDER BY id;
SELECT id FROM ops_t WHERE v > '[1,2]' AND v <= '[3,1]' ORDER BY v, id;
RESET enable_seqscan;
CREATE UNIQUE INDEX ops_t_u ON ops_t (v) WHERE id <> 5;
INSERT INTO ops_t VALUES (7, '[3,1]');

-- large vectors stored out of line (TOAST) work everywhere
CREATE TABLE ops_big (id int, v vector);
INSERT INTO ops_big SELECT i, ('[' || repeat(i || ',', 15999) || '1]')::vector
FROM generate_series(1, 3) i;
SELECT a.id, b.id, a.v <-> b.v AS l2, a.v <+> b.v AS l1, a.v < b.v AS lt
FROM ops_big a, ops_big b WHERE a.id < b.id ORDER BY 1, 2;
SELECT id, vector_dims(v), vector_norm(v) = sqrt(15999 * id * id + 1) AS norm_ok,
	subvector(v, 15998, 5) FROM ops_big ORDER BY v DESC;

DROP TABLE ops_t, ops_big;
