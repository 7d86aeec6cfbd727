-- halfvec casts: vector, arrays, typmods, and their contexts
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	detail text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM ||
		CASE WHEN detail <> '' THEN ' (' || detail || ')' ELSE '' END;
END $$;

-- the casts and their contexts, as pgvector defines them (those with
-- sparsevec are tested with that type)
SELECT castsource::regtype, casttarget::regtype, castfunc::regprocedure, castcontext
FROM pg_cast
WHERE (castsource = 'halfvec'::regtype OR casttarget = 'halfvec'::regtype)
	AND 'sparsevec' NOT IN (castsource::regtype::text, casttarget::regtype::text)
ORDER BY castsource::regtype::text, casttarget::regtype::text;

-- halfvec <-> vector
SELECT '[1,0.1,-65504]'::halfvec::vector, '[1,0.1,-65504,1e-8]'::vector::halfvec;
SELECT '[1,2,3]'::vector::halfvec(3), '[1,2,3]'::halfvec::vector(3);
SELECT pg_temp.try($$SELECT '[1,2,3]'::vector::halfvec(2)$$);
SELECT pg_temp.try($$SELECT '[1,2,3]'::halfvec::vector(2)$$);
SELECT pg_temp.try($$SELECT '[1,65520]'::vector::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,-3.4028235e38]'::vector::halfvec$$);
SELECT pg_temp.try($$SELECT '[1e5,1e6]'::vector::halfvec$$);
-- past the first registers of a vector, too; and each element rounds as
-- from real[] (ties to even, subnormals, the largest finite half)
SELECT pg_temp.try($$SELECT (array_fill(1, ARRAY[37]) || ARRAY[70000, 80000])::real[]::vector::halfvec$$);
SELECT v::halfvec = v::real[]::halfvec AS same_rounding, vector_dims(v::halfvec)
FROM (SELECT array_agg(x ORDER BY i)::vector AS v
	FROM (SELECT i, CASE i % 5 WHEN 0 THEN 1.0009765625 * i WHEN 1 THEN 1.00048828125
		WHEN 2 THEN 3e-8 * i WHEN 3 THEN 65519.99 ELSE -0.1 * i END AS x
		FROM generate_series(1, 1000) i) s) t;
SELECT vector_dims(('[' || repeat('1,', 15999) || '1]')::vector::halfvec),
	vector_dims(('[' || repeat('1,', 15999) || '1]')::halfvec::vector);
-- vector -> halfvec is implicit: a vector argument meets a halfvec parameter
CREATE TEMP TABLE hc (id int, h halfvec(3), v vector(3));
INSERT INTO hc VALUES (1, '[1,2,3]'::vector, '[1,2,3]'::halfvec);
INSERT INTO hc (id, h) SELECT 2, v FROM hc WHERE id = 1;
SELECT pg_temp.try($$INSERT INTO hc (id, h) VALUES (3, '[1,2]'::vector)$$);
SELECT * FROM hc ORDER BY id;
SELECT l2_distance(h, '[1,2,4]'::vector) FROM hc WHERE id = 1;
SELECT pg_typeof(h || '[1]'::vector) FROM hc WHERE id = 1;
-- halfvec -> vector is assignment only
SELECT pg_temp.try($$SELECT vector_norm('[3,4]'::halfvec)$$);

-- arrays -> halfvec (assignment) and halfvec -> real[] (assignment)
SELECT '{1,2,3}'::int[]::halfvec, '{1.5,2.5}'::real[]::halfvec,
	'{0.1,-0.2}'::float8[]::halfvec, '{0.1,65504}'::numeric[]::halfvec;
SELECT '[0.1,-2,65504]'::halfvec::real[], pg_typeof('[1]'::halfvec::real[]);
SELECT ARRAY[1,2,3]::halfvec(3), ARRAY[1.5,2]::real[]::halfvec(2);
SELECT pg_temp.try($$SELECT ARRAY[1,2]::halfvec(3)$$);
SELECT pg_temp.try($$SELECT '{}'::int[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{{1,2},{3,4}}'::int[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{1,NULL}'::int[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{NULL}'::real[]::halfvec$$);
-- out of half's range: the float's shortest form in the message
SELECT pg_temp.try($$SELECT '{1,100000}'::int[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{65520}'::real[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{1e10}'::float8[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{70000.5}'::numeric[]::halfvec$$);
-- beyond float's range: float8 elements become infinite, numeric ones fail
SELECT pg_temp.try($$SELECT '{1e300}'::float8[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{1e39}'::numeric[]::halfvec$$);
-- NaN and infinities
SELECT pg_temp.try($$SELECT '{NaN}'::real[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{1,Infinity}'::real[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{-Infinity}'::float8[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{NaN}'::numeric[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{Infinity}'::numeric[]::halfvec$$);
-- a float overflowing half is reported before an earlier NaN, as in pgvector
SELECT pg_temp.try($$SELECT '{NaN,1e6}'::real[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{NaN,Infinity}'::real[]::halfvec$$);
SELECT pg_temp.try($$SELECT '{Infinity,NaN}'::float8[]::halfvec$$);
-- 16000 elements
SELECT vector_dims(array_fill(1, ARRAY[16000])::halfvec);
SELECT pg_temp.try($$SELECT array_fill(1, ARRAY[16001])::halfvec$$);
SELECT cardinality(('[' || repeat('1,', 15999) || '1]')::halfvec::real[]);
-- the cast functions directly, typmod included
SELECT array_to_halfvec('{1,2}'::int[], 2, false), halfvec_to_float4('[1,2]', -1, false),
	vector_to_halfvec('[1,2]', 2, true), halfvec_to_vector('[1,2]', -1, true), halfvec('[1,2]', 2, false);
SELECT pg_temp.try($$SELECT halfvec('[1,2]', 3, false)$$);
SELECT pg_temp.try($$SELECT array_to_halfvec('{1,2}'::real[], 3, false)$$);

-- typmod of a column: assignment, the cast to itself and COPY
CREATE TEMP TABLE htm (v halfvec(2));
INSERT INTO htm VALUES ('[1,2]'), (ARRAY[3,4]), ('[5,6]'::vector), ('{7,8}'::real[]);
SELECT pg_temp.try($$INSERT INTO htm VALUES (ARRAY[1,2,3])$$);
SELECT pg_temp.try($$INSERT INTO htm VALUES ('[1,2,3]'::vector)$$);
SELECT pg_temp.try($$UPDATE htm SET v = v || '[1]'$$);
SELECT * FROM htm;
