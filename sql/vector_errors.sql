-- bad input is an ERROR with a proper SQLSTATE, never a crash
-- try(): run a statement, report 'ok' or SQLSTATE: message
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.try_in(lit text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	r := lit::vector::text;
	RETURN r;
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- malformed text
SELECT lit, pg_temp.try_in(lit) FROM (VALUES
	(''), ('   '), ('1,2'), ('(1,2)'), ('{1,2}'), ('[1,2'), ('1,2]'),
	('[1,,2]'), ('[,1]'), ('[1,]'), ('[,]'), ('[1 2]'), ('[1;2]'),
	('[1,2]x'), ('[1,2]]'), ('[1,2] ,'), ('[[1,2]]'), ('[a]'), ('[1a]'),
	('[--1]'), ('[1e]'), ('[0x]'), ('[1,2,3]' || chr(1))) t(lit);

-- every proper prefix of a valid literal is rejected
SELECT n, left(lit, n) AS prefix, pg_temp.try_in(left(lit, n))
FROM (VALUES ('[1.5, -2e3,3 ]')) s(lit), generate_series(0, length(lit) - 1) n;

-- empty, non-finite and out-of-range elements
SELECT lit, pg_temp.try_in(lit) FROM (VALUES
	('[]'), ('[ ]'), ('[NaN]'), ('[1,nan]'), ('[Infinity]'), ('[-inf]'),
	('[1e39]'), ('[-1e39]'), ('[1,3.5e38]'), ('[1e400]')) t(lit);

-- too many dimensions
SELECT pg_temp.try_in('[' || repeat('0,', 16000) || '0]');
SELECT pg_temp.try_in('[' || repeat('0,', 20000) || '0]');

-- dimension mismatch between operands
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	('SELECT ''[1,2,3]''::vector <-> ''[1,2]'''),
	('SELECT ''[1,2,3]''::vector <#> ''[1,2]'''),
	('SELECT ''[1,2,3]''::vector <=> ''[1,2]'''),
	('SELECT ''[1,2,3]''::vector <+> ''[1,2]'''),
	('SELECT l2_distance(''[1,2,3]''::vector, ''[1,2]'')'),
	('SELECT inner_product(''[1,2,3]''::vector, ''[1,2]'')'),
	('SELECT vector_l2_squared_distance(''[1,2,3]'', ''[1,2]'')'),
	('SELECT vector_negative_inner_product(''[1,2,3]'', ''[1,2]'')'),
	('SELECT ''[1,2,3]''::vector + ''[1,2]'''),
	('SELECT ''[1,2,3]''::vector - ''[1,2]'''),
	('SELECT ''[1,2,3]''::vector * ''[1,2]''')) t(stmt);

-- arithmetic overflow and underflow
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	('SELECT ''[3e38]''::vector + ''[3e38]'''),
	('SELECT ''[-3e38]''::vector - ''[3e38]'''),
	('SELECT ''[1,1e20]''::vector * ''[1,1e20]'''),
	('SELECT ''[1e-30]''::vector * ''[1e-30]'''),
	('SELECT sum(v) FROM (VALUES (''[3e38]''::vector), (''[3e38]'')) t(v)')) t(stmt);

-- concatenation and subvector limits
SELECT pg_temp.try('SELECT ''[' || repeat('0,', 15999) || '0]''::vector || ''[1]''');
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	('SELECT subvector(''[1,2,3]''::vector, 4, 1)'),
	('SELECT subvector(''[1,2,3]''::vector, 1, 0)'),
	('SELECT subvector(''[1,2,3]''::vector, 2, -1)'),
	('SELECT subvector(''[1,2,3]''::vector, -5, 2)'),
	('SELECT subvector(''[1,2,3]''::vector, 2147483647, 2147483647)'),
	('SELECT subvector(''[1,2,3]''::vector, -2147483648, 2147483647)')) t(stmt);

-- typmod violations
CREATE TABLE err_t (v vector(2));
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	('INSERT INTO err_t VALUES (''[1,2,3]'')'),
	('INSERT INTO err_t VALUES (''[1,2,3]''::vector)'),
	('INSERT INTO err_t VALUES (''{1,2,3}''::int[])'),
	('INSERT INTO err_t SELECT ''[1]''::vector || ''[2,3]'''),
	('SELECT ''[1]''::vector(2)'),
	('SELECT ''{1}''::real[]::vector(2)')) t(stmt);
DROP TABLE err_t;
