-- Input, casts and aggregate state functions answer as pgvector does: the
-- same white space, the same error first, and the same SQLSTATE, message,
-- DETAIL and HINT.
-- err(): 'ok' or SQLSTATE: message, then the DETAIL and HINT when present
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text;
	msg text;
	det text;
	hin text;
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
		det = PG_EXCEPTION_DETAIL, hin = PG_EXCEPTION_HINT;
	RETURN st || ': ' || msg ||
		CASE WHEN det <> '' THEN ' DETAIL: ' || det ELSE '' END ||
		CASE WHEN hin <> '' THEN ' HINT: ' || hin ELSE '' END;
END $$;

-- white space is ' ', \t, \n, \r, \v and \f, anywhere between the tokens
SELECT ascii(c) AS code, pos,
	(replace(tmpl, '_', c))::vector AS v
FROM (VALUES (' '), (E'\t'), (E'\n'), (E'\r'), (E'\x0b'), (E'\f')) w(c),
	(VALUES (1, '_[1,2]'), (2, '[_1,2]'), (3, '[1_,2]'), (4, '[1,_2]'),
			(5, '[1,2_]'), (6, '[1,2]_'), (7, '_[_1_,_2_]_')) t(pos, tmpl)
ORDER BY 1, 2;
-- other control characters are not
SELECT pg_temp.err(format('SELECT %L::vector', replace('[1_,2]', '_', chr(c))))
FROM (VALUES (1), (8), (14), (28), (31), (127)) t(c);
-- nor is white space inside a number
SELECT pg_temp.err(format('SELECT %L::vector', lit)) FROM (VALUES
	(E'[1\x0b2]'), (E'[-\x0b1]'), (E'[1e\x0b3]'), (E'[1.\x0b5]')) t(lit);
-- COPY reads the same text
CREATE TEMP TABLE ws (v vector(2));
COPY ws FROM STDIN;
[1\v,2]
\v[\v3\v,\v4\v]\v
\f[5,\f6]\r
\.
SELECT v FROM ws;

-- malformed text: DETAIL as pgvector gives it
SELECT lit, pg_temp.err(format('SELECT %L::vector', lit)) FROM (VALUES
	(''), (E'\x0b'), ('1,2'), ('(1,2)'), ('[1,2] x'), ('[1,2]]'),
	(E'[1,2]\x0b,'), ('[1,'), ('[1,]'), ('[,1]'), ('[1 2]'), ('[1,2')) t(lit);
-- type modifiers: no DETAIL
SELECT stmt, pg_temp.err(stmt) FROM (VALUES
	('SELECT ''[1,2]''::vector(2,3)'),
	('SELECT ''[1,2]''::vector(0)'),
	('SELECT ''[1,2]''::vector(16001)'),
	('SELECT ''[1,2]''::vector(3)'),
	('CREATE TEMP TABLE tm (v vector(1,2))')) t(stmt);

-- the first element that fails names the error
SELECT stmt, pg_temp.err(stmt) FROM (VALUES
	('SELECT ''[1e-30,1e30]''::vector * ''[1e-30,1e30]'''),
	('SELECT ''[1e30,1e-30]''::vector * ''[1e30,1e-30]'''),
	('SELECT ''[1,1e-30,1e30]''::vector * ''[1,1e-30,1e30]''')) t(stmt);
-- casts convert every element before checking any
SELECT stmt, pg_temp.err(stmt) FROM (VALUES
	('SELECT ''{NaN,1e-51}''::numeric[]::vector'),
	('SELECT ''{NaN,1e39}''::numeric[]::vector'),
	('SELECT ''{Infinity,NaN}''::numeric[]::vector'),
	('SELECT ''{NaN,Infinity}''::real[]::vector'),
	('SELECT ''{NaN,4e38}''::double precision[]::vector'),
	('SELECT ''{4e38,NaN}''::double precision[]::vector')) t(stmt);
-- a value beyond float4's range is an infinite element, in every cast
SELECT stmt, pg_temp.err(stmt) FROM (VALUES
	('SELECT ''{4e38,-4e38}''::double precision[]::vector'),
	('SELECT ''{-1e300}''::double precision[]::vector'),
	('SELECT ''{1,Infinity}''::double precision[]::vector'),
	('SELECT ''{1,-Infinity}''::real[]::vector'),
	('SELECT ''{4e38}''::numeric[]::vector'),
	('SELECT ''[4e38]''::vector'),
	('SELECT ''[-4e38]''::vector(1)')) t(stmt);
-- a double too small for float4 becomes zero, as in pgvector
SELECT '{1e-50,-1e-50}'::double precision[]::vector;

-- aggregate state functions with malformed states
SELECT stmt, pg_temp.err(stmt) FROM (VALUES
	('SELECT vector_accum(''{}'', ''[1]'')'),
	('SELECT vector_accum(''{{1,2}}'', ''[1]'')'),
	('SELECT vector_accum(''{1,NULL}'', ''[1]'')'),
	('SELECT vector_combine(''{}'', ''{1,2}'')'),
	('SELECT vector_combine(''{1,2}'', ''{NULL}'')'),
	('SELECT vector_avg(''{}'')'),
	('SELECT vector_avg(''{NULL,1}'')')) t(stmt);
-- a sum that is already infinite overflows, in the state functions too
SELECT stmt, pg_temp.err(stmt) FROM (VALUES
	('SELECT vector_accum(''{1,Infinity}'', ''[1]'')'),
	('SELECT vector_accum(''{1,-Infinity}'', ''[1]'')'),
	('SELECT vector_combine(''{1,1e308}'', ''{1,1e308}'')'),
	('SELECT vector_combine(''{1,Infinity}'', ''{1,1}'')')) t(stmt);
SELECT vector_accum('{1,NaN}', '[1]'), vector_accum('{1,1e308}', '[1]');
-- a state that counts no rows is skipped, whatever its sums
SELECT stmt, pg_temp.err(stmt) FROM (VALUES
	('SELECT vector_combine(''{0}'', ''{0}'')'),
	('SELECT vector_combine(''{0,5}'', ''{1}'')'),
	('SELECT vector_combine(''{1}'', ''{0,5}'')'),
	('SELECT vector_combine(''{1,1}'', ''{1,1,1}'')'),
	('SELECT vector_accum(array_fill(1.0::float8, ARRAY[16002]), ''[1]'')'),
	('SELECT vector_combine(''{0}'', array_fill(1.0::float8, ARRAY[16002]))')) t(stmt);
SELECT vector_combine('{0,5}', '{0,6}'), vector_combine('{2,5}', '{0,6,7}'),
	vector_combine('{0,6,7}', '{2,5}'), vector_combine('{2,5}', '{3,6}');
