-- casts between vector and arrays (those with the other vector types are
-- tested with them)
SELECT castsource::regtype, casttarget::regtype, castfunc::regprocedure, castcontext
FROM pg_cast
WHERE (castsource = 'vector'::regtype OR casttarget = 'vector'::regtype)
	AND castsource::regtype::text NOT IN ('halfvec', 'sparsevec')
	AND casttarget::regtype::text NOT IN ('halfvec', 'sparsevec')
ORDER BY 1::text, 2::text;

-- from arrays
SELECT '{1,2,3}'::integer[]::vector;
SELECT '{1.5,-2.25,1e-7}'::real[]::vector;
SELECT '{1.5,-2.25,0.1}'::double precision[]::vector;
SELECT '{1.5,-2.25,0.1}'::numeric[]::vector;
SELECT '{2147483647,-2147483648}'::integer[]::vector;
SELECT '[0:2]={7,8,9}'::integer[]::vector;
SELECT ARRAY[1,2]::vector(2), ARRAY[1.5,2.5]::vector(2);
SELECT array_to_vector('{1,2}'::integer[], -1, false);

-- to real[] (implicit)
SELECT '[1,2.5,-3]'::vector::real[];
CREATE FUNCTION pg_temp.card(real[]) RETURNS int LANGUAGE sql AS 'SELECT cardinality($1)';
SELECT pg_temp.card('[1,2,3]'::vector);
SELECT unnest('[1,2.5]'::vector::real[]);

-- array casts are assignment casts: they apply in INSERT and UPDATE
CREATE TABLE cast_t (id int, v vector(3));
INSERT INTO cast_t VALUES
	(1, '{1,2,3}'::integer[]),
	(2, '{1.5,2,3}'::real[]),
	(3, '{0.1,0.2,0.3}'::double precision[]),
	(4, '{4,5,6}'::numeric[]),
	(5, ARRAY[7,8,9]);
UPDATE cast_t SET v = ARRAY[9.5, 8.5, 7.5] WHERE id = 5;
SELECT * FROM cast_t ORDER BY id;
DROP TABLE cast_t;

-- bad arrays
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	('SELECT ''{}''::integer[]::vector'),
	('SELECT ''{{1,2},{3,4}}''::integer[]::vector'),
	('SELECT ''{1,NULL}''::integer[]::vector'),
	('SELECT ''{NULL}''::real[]::vector'),
	('SELECT ''{NaN}''::real[]::vector'),
	('SELECT ''{-Infinity}''::real[]::vector'),
	('SELECT ''{1,NaN}''::double precision[]::vector'),
	('SELECT ''{Infinity}''::double precision[]::vector'),
	('SELECT ''{1e39}''::double precision[]::vector'),
	('SELECT ''{-1e300}''::double precision[]::vector'),
	('SELECT ''{NaN}''::numeric[]::vector'),
	('SELECT ''{Infinity}''::numeric[]::vector'),
	('SELECT ''{1e39}''::numeric[]::vector'),
	('SELECT ''{1,2}''::integer[]::vector(3)'),
	('SELECT array_fill(1, ARRAY[16001])::vector'),
	('SELECT array_fill(1.5::real, ARRAY[16000])::vector IS NOT NULL'),
	('SELECT ''[1]''::vector::integer[]')) t(stmt);
