-- casts between sparsevec and vector, arrays and sparsevec(n)
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- sparsevec to vector (assignment) and back (implicit): zeros, -0 dropped
SELECT '{1:1,3:2}/4'::sparsevec::vector, '{}/2'::sparsevec::vector,
	   '{1:1,3:2}/4'::sparsevec::vector(4);
SELECT '[0,1,0,-0,2.5]'::vector::sparsevec, '[0,0]'::vector::sparsevec,
	   '[0,1,0,-0,2.5]'::vector::sparsevec(5);
SELECT v, v::vector::sparsevec = v AS roundtrip FROM (VALUES ('{1:1,3:-2}/3'::sparsevec),
	('{}/16000'), ('{16000:1e-45}/16000')) t(v);
CREATE TABLE cast_t (s sparsevec, v vector);
INSERT INTO cast_t VALUES ('[1,0,2]'::vector, '{2:3}/3'::sparsevec);
SELECT * FROM cast_t;
DROP TABLE cast_t;
-- implicit vector to sparsevec resolves sparsevec functions
SELECT l2_norm('[3,0,4]'::vector::sparsevec), '{1:1}/2'::sparsevec <-> '[0,1]'::vector;
-- 16,000 non-zeros fit, 16,001 do not; vectors hold at most 16,000 dims
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	($$SELECT '{1:1,3:2}/4'::sparsevec::vector(3)$$),
	($$SELECT '{1:1}/16001'::sparsevec::vector$$),
	($$SELECT '{}/1000000000'::sparsevec::vector$$),
	($$SELECT '[0,1,0,-0,2.5]'::vector::sparsevec(4)$$),
	($$SELECT array_fill(1, ARRAY[16000])::vector::sparsevec IS NOT NULL$$),
	($$SELECT array_fill(1, ARRAY[16001])::sparsevec$$)) t(stmt);

-- sparsevec(n): the typmod cast
SELECT '{1:1,3:2}/4'::sparsevec::sparsevec(4);
SELECT pg_temp.try($$SELECT '{1:1,3:2}/4'::sparsevec::sparsevec(5)$$);
SELECT pg_temp.try($$SELECT '{1:1,3:2}/4'::sparsevec(4)::sparsevec(3)$$);

-- arrays (assignment casts): each element rounded to float4, zeros dropped
SELECT ARRAY[1,0,3]::sparsevec, ARRAY[1.5,0,-3]::real[]::sparsevec,
	   ARRAY[1.5,0,1e-50,-0.0]::float8[]::sparsevec,
	   ARRAY[1.5,0,3.25]::numeric[]::sparsevec, ARRAY[1,0,3]::sparsevec(3);
SELECT array_to_sparsevec(ARRAY[1,2]::int[], -1, true),
	   array_to_sparsevec(ARRAY[0.1]::float8[], -1, false);
CREATE TABLE cast_a (s sparsevec(3));
INSERT INTO cast_a VALUES (ARRAY[1,0,2]), (ARRAY[0.5,0,0]::real[]),
	(ARRAY[0,0,1e-3]::float8[]), (ARRAY[0,2.5,0]::numeric[]);
SELECT * FROM cast_a;
DROP TABLE cast_a;
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	($$SELECT ARRAY[1,0,3]::sparsevec(2)$$),
	($$SELECT ARRAY[[1,2],[3,4]]::sparsevec$$),
	($$SELECT ARRAY[1,NULL]::sparsevec$$),
	($$SELECT '{}'::int[]::sparsevec$$),
	($$SELECT ARRAY[1.5,0,1e50]::float8[]::sparsevec$$),
	($$SELECT ARRAY['nan'::float8]::sparsevec$$),
	($$SELECT ARRAY[0,'-inf'::float4]::sparsevec$$),
	($$SELECT ARRAY[1e50]::numeric[]::sparsevec$$),
	($$SELECT ARRAY['nan']::numeric[]::sparsevec$$),
	($$SELECT ARRAY[1,2]::bigint[]::sparsevec$$)) t(stmt);

-- to and from halfvec
SELECT '{1:1.5,3:2}/4'::sparsevec::halfvec, '[0,1.5,0,-2]'::halfvec::sparsevec,
	'[1,2,0]'::halfvec::sparsevec(3), '{}/2'::sparsevec::halfvec;
SELECT '{1:1.5}/2'::sparsevec::halfvec(3);
SELECT '[1,2]'::halfvec::sparsevec(3);
SELECT '{1:1e6}/2'::sparsevec::halfvec;
SELECT castsource::regtype, casttarget::regtype, castcontext FROM pg_cast
WHERE castsource = 'halfvec'::regtype AND casttarget = 'sparsevec'::regtype
	OR castsource = 'sparsevec'::regtype AND casttarget = 'halfvec'::regtype
ORDER BY 1::text;
