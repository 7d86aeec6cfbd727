-- halfvec text and binary I/O, typmods, limits, on-disk form
-- try(): run a statement, report 'ok' or SQLSTATE: message (DETAIL)
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

-- text input: whitespace (including \v), signs, exponents, hex
SELECT '[1,2,3]'::halfvec;
SELECT (E' \t[ 1 ,\n2.5 , -0.001\r]\f' || chr(11) || chr(11))::halfvec;
SELECT '[+1,-0,0.1,1e3,1E-3,0x1p3,.5,5.]'::halfvec;
-- output: the half's value as the shortest decimal that reads back as the
-- same float4
SELECT '[0.1,0.2,0.3,3.14159,1000.3,2049,-65504,65504]'::halfvec;
-- the largest finite, smallest normal and subnormal halves
SELECT '[65504,6.1035156e-05,5.9604645e-08,-5.9604645e-08]'::halfvec;
-- rounding to nearest, ties to even: 2049 and 2051 are halfway between halves
SELECT '[2049,2051,2050,0.00000005960464477539062,0.0000000298023223876953125]'::halfvec;
-- a float rounds to half once; values below the subnormals become (signed) zero
SELECT '[1e-8,-1e-8,1e-50,-1e-50]'::halfvec;
-- values just below 65520 round to 65504; from 65520 up they overflow
SELECT '[65519.99]'::halfvec;
SELECT pg_temp.try($$SELECT '[65520]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,-1e5]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[ 1e39 ]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,-1e39,nan]'::halfvec$$);
-- NaN and infinities
SELECT pg_temp.try($$SELECT '[NaN]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,inf]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[-Infinity,1]'::halfvec$$);
-- the first bad element decides the error
SELECT pg_temp.try($$SELECT '[nan,1e39]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1e39,nan]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[nan,x]'::halfvec$$);
-- syntax errors
SELECT pg_temp.try($$SELECT ''::halfvec$$);
SELECT pg_temp.try($$SELECT '1,2'::halfvec$$);
SELECT pg_temp.try($$SELECT '['::halfvec$$);
SELECT pg_temp.try($$SELECT '[1'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[,1]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1 2]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1;2]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[a]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,2] x'::halfvec$$);
SELECT pg_temp.try($$SELECT '[1,2]]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[]'::halfvec$$);
SELECT pg_temp.try($$SELECT '[ ]'::halfvec$$);

-- output round-trips through input
SELECT v, halfvec_send(v::text::halfvec) = halfvec_send(v) AS roundtrip
FROM (VALUES ('[0.1,0.2,0.30000001]'::halfvec), ('[5.9604645e-08,65504,-7]')) t(v);

-- typmod
SELECT '[1,2,3]'::halfvec(3);
SELECT pg_temp.try($$SELECT '[1,2]'::halfvec(3)$$);
SELECT '[1,2,3]'::halfvec::halfvec(3), '[1,2,3]'::halfvec(3)::halfvec;
SELECT pg_temp.try($$SELECT '[1,2,3]'::halfvec::halfvec(2)$$);
SELECT format_type('halfvec'::regtype, 3), format_type('halfvec'::regtype, -1);
SELECT pg_temp.try($$SELECT '[1]'::halfvec(0)$$);
SELECT pg_temp.try($$SELECT '[1]'::halfvec(-1)$$);
SELECT pg_temp.try($$SELECT '[1]'::halfvec(16001)$$);
SELECT pg_temp.try($$SELECT '[1]'::halfvec(1, 2)$$);
SELECT pg_temp.try($$SELECT '[1]'::halfvec('a')$$);
CREATE TEMP TABLE ht (id int, v halfvec(3));
INSERT INTO ht VALUES (1, '[1,2,3]');
SELECT pg_temp.try($$INSERT INTO ht VALUES (2, '[1,2]')$$);
SELECT pg_temp.try($$INSERT INTO ht VALUES (2, '[1,2,3]'::halfvec(3)::halfvec)$$);
SELECT pg_temp.try($$INSERT INTO ht VALUES (3, '[1,2]'::halfvec)$$);
SELECT * FROM ht ORDER BY id;
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'ht'::regclass AND attname = 'v';

-- dimension limits: 16000 is accepted, 16001 is not
SELECT length(halfvec_send(('[' || repeat('1,', 15999) || '1]')::halfvec(16000))) AS send_bytes;
SELECT pg_temp.try($$SELECT ('[' || repeat('1,', 16000) || '1]')::halfvec$$);
SELECT pg_temp.try($$SELECT ('[' || repeat('1,', 16000) || 'nan]')::halfvec$$);
SELECT pg_temp.try($$SELECT ('[nan,' || repeat('1,', 16000) || '1]')::halfvec$$);

-- binary: int16 dim, int16 unused, big-endian halves
SELECT halfvec_send('[1,-2,0.5]');
SELECT halfvec_send('[65504,5.9604645e-08,-0]');
SELECT halfvec_send(('[' || repeat('1,', 15999) || '1]')::halfvec) = '\x3e800000'::bytea || decode(repeat('3c00', 16000), 'hex') AS send_16000;

-- binary input: the bytes go through COPY (FORMAT binary) into a halfvec
-- column, which calls halfvec_recv with the column's typmod
CREATE FUNCTION pg_temp.recv(bytes bytea, typ text DEFAULT 'halfvec') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	f text := current_setting('data_directory') || '/omendb_halfvec_recv.bin';
	r text;
BEGIN
	EXECUTE format('COPY (SELECT %L::bytea) TO %L (FORMAT binary)', bytes, f);
	EXECUTE format('CREATE TEMP TABLE recv_t (v %s)', typ);
	BEGIN
		EXECUTE format('COPY recv_t FROM %L (FORMAT binary)', f);
		SELECT v::text INTO r FROM recv_t;
	EXCEPTION WHEN OTHERS THEN
		r := SQLSTATE || ': ' || SQLERRM;
	END;
	DROP TABLE recv_t;
	RETURN r;
END $$;
SELECT v, pg_temp.recv(halfvec_send(v)) = v::text AS roundtrip
FROM (VALUES ('[1,2,3]'::halfvec), ('[-0,5.9604645e-08,-65504]'), ('[0.1,0.2]')) t(v);
SELECT pg_temp.recv('\x000300003c0040004200', 'halfvec(3)');
-- every finite half, in four vectors of 15872: binary in, text out, text
-- in and binary out give back the same bits
SELECT k, pg_temp.recv(b) IS NOT NULL AS received,
	halfvec_send(pg_temp.recv(b)::halfvec) = b AS same_bits
FROM (SELECT k, '\x3e000000'::bytea || decode(string_agg(lpad(to_hex(i), 4, '0'), '' ORDER BY i), 'hex') AS b
	FROM (SELECT i, (row_number() OVER (ORDER BY i) - 1) / 15872 AS k
		FROM generate_series(0, 65535) i WHERE i & 31744 <> 31744) f
	GROUP BY k) t
ORDER BY k;
-- bad binary input
SELECT b AS bytes, typ, pg_temp.recv(b::bytea, typ) FROM (VALUES
	('\x00000000', 'halfvec'),                      -- 0 dimensions
	('\x3e810000', 'halfvec'),                      -- 16001 dimensions
	('\xffff0000', 'halfvec'),                      -- dim -1
	('\x80000000', 'halfvec'),                      -- dim -32768
	('\x000100013c00', 'halfvec'),                  -- unused = 1
	('\x0001ffff3c00', 'halfvec'),                  -- unused = -1
	('\x000100007e00', 'halfvec'),                  -- NaN
	('\x00010000fc01', 'halfvec'),                  -- NaN, sign set
	('\x000100007c00', 'halfvec'),                  -- +Infinity
	('\x00010000fc00', 'halfvec'),                  -- -Infinity
	('\x000200003c00', 'halfvec'),                  -- one half missing
	('\x000100003c', 'halfvec'),                    -- half a half
	('\x0001', 'halfvec'),                          -- no unused field
	('\x', 'halfvec'),                              -- nothing
	('\x000100003c0000', 'halfvec'),                -- trailing byte
	('\x000100003c00', 'halfvec(2)'),               -- typmod mismatch
	('\x000000013c00', 'halfvec(2)')                -- 0 dims before typmod and unused
	) t(b, typ);
DO $$
BEGIN
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L',
				   'rm -f ' || current_setting('data_directory') || '/omendb_halfvec_recv.bin');
END $$;

-- on-disk datum: 4-byte header, int16 dim, int16 unused, 2 bytes a half;
-- stored uncompressed out of line when large (STORAGE external)
SELECT typstorage, typlen, typalign FROM pg_type WHERE oid = 'halfvec'::regtype;
SELECT pg_column_size('[1,2,3]'::halfvec) AS bytes_3,
	pg_column_size(('[' || repeat('1,', 15999) || '1]')::halfvec) AS bytes_16000;

-- text COPY out and in
CREATE TEMP TABLE hcopy (id int, v halfvec);
INSERT INTO hcopy VALUES (1, '[1,-2.5,3e-5]'), (2, '[0.1]'), (3, NULL);
COPY hcopy TO STDOUT;
COPY hcopy (id, v) FROM STDIN;
4	[4, 5 ,6]
\.
SELECT * FROM hcopy ORDER BY id;
