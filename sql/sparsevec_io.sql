-- sparsevec text and binary I/O, typmods, limits, on-disk form
-- try_in(): the literal's output, or SQLSTATE: message (DETAIL)
CREATE FUNCTION pg_temp.try_in(lit text, typ text DEFAULT 'sparsevec') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	r text;
	d text;
BEGIN
	EXECUTE format('SELECT %L::%s::text', lit, typ) INTO r;
	RETURN r;
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
	RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' (' || nullif(d, '') || ')', '');
END $$;

-- valid literals: 1-based indices in any order, zeros dropped, white space
SELECT lit, pg_temp.try_in(lit) FROM (VALUES
	('{1:1.5,3:2}/5'), ('{}/5'), ('{ }/1'), (' { 1 : 1.5 , 3 : 2 } / 5 '),
	(E'\t{1:1}\n/\r2\f'), (chr(11) || '{1:1}/2' || chr(11)), ('{3:2,1:1}/5'), ('{5:1,2:2,4:3,1:4}/5'),
	('{1:0,2:0}/5'), ('{1:0,1:0}/5'), ('{7:0}/5'), ('{0:0}/5'), ('{1:-0}/5'),
	('{+1:+1}/+5'), ('{1:0x1p3}/5'), ('{1:1e-40}/5'), ('{1:1E3,2:-2.5e-3}/3'),
	('{1:1}/1000000000'), ('{1000000000:-1}/1000000000')) t(lit);

-- output: shortest round-trip floats, as float4 prints them
SELECT '{1:1.2345678912345,2:3.4028235e38,3:1.4e-45,4:-1e-7,5:123456789,6:0.1,7:100,8:1e22}/8'::sparsevec;

-- malformed text (22P02), with pgvector's DETAILs
SELECT lit, pg_temp.try_in(lit) FROM (VALUES
	(''), ('   '), ('[1,2]'), ('1:1}/2'), ('{'), ('{1'), ('{1:'), ('{1:1'),
	('{1:1,'), ('{1:1}'), ('{1:1}/'), ('{1:1}/a'), ('{1:1} 2'), ('{1:1}/5 x'),
	('{1:1}/5/'), ('{1:1,}/5'), ('{,}/5'), ('{,1:1}/5'), ('{:1}/5'), ('{1:}/5'),
	('{1 1}/5'), ('{1:1 2:2}/5'), ('{1:1;2:2}/5'), ('{a:1}/5'), ('{1.5:1}/5'),
	('{1:a}/5'), ('{1:1a}/5'), ('{1:1}/5.0'), ('{{1:1}}/5')) t(lit);

-- every proper prefix of a valid literal is rejected
SELECT n, left(lit, n) AS prefix, pg_temp.try_in(left(lit, n))
FROM (VALUES ('{1:1.5, 3:-2e3}/5')) s(lit), generate_series(0, length(lit) - 1) n;

-- values: NaN and infinities (22000), out of float4 range (22003)
SELECT lit, pg_temp.try_in(lit) FROM (VALUES
	('{1:nan}/5'), ('{1:NaN}/5'), ('{1:inf}/5'), ('{1:-Infinity}/5'),
	('{1:1e39}/5'), ('{1:-1e39}/5'), ('{1:1e-46}/5'), ('{2:1,1:1e-50}/5'),
	('{1:3.4028236e38}/5')) t(lit);

-- indices: within 1..dim and unique among the non-zeros (22000), checked
-- after sorting, so the smallest bad index decides
SELECT lit, pg_temp.try_in(lit) FROM (VALUES
	('{0:1}/5'), ('{6:1}/5'), ('{-1:1}/5'), ('{1:1,1:2}/5'), ('{3:1,2:1,3:1}/5'),
	('{6:1,1:1,1:1}/5'), ('{2147483647:1}/5'), ('{2147483648:1}/5'),
	('{-2147483648:1}/5'), ('{-99999999999999999999:1}/5'),
	('{99999999999999999999:1}/5')) t(lit);

-- dimensions: 1 to 1,000,000,000
SELECT lit, pg_temp.try_in(lit) FROM (VALUES
	('{}/0'), ('{1:1}/0'), ('{}/-1'), ('{}/1000000001'), ('{}/2147483648'),
	('{}/99999999999999999999'), ('{}/-99999999999999999999')) t(lit);

-- at most 16,000 non-zeros; more than 16,000 elements are refused before
-- parsing, even if they are zeros
SELECT vector_dims(s::vector) AS dims, l2_norm(s) ^ 2 AS nnz
FROM (SELECT ('{' || string_agg(i || ':1', ',') || '}/16000')::sparsevec AS s
	  FROM generate_series(1, 16000) i) t;
SELECT pg_temp.try_in('{' || string_agg(i || ':1', ',') || '}/16001')
FROM generate_series(1, 16001) i;
SELECT pg_temp.try_in('{' || string_agg(i || ':0', ',') || '}/16001')
FROM generate_series(1, 16001) i;
SELECT left(pg_temp.try_in(repeat(',', 15999)), 80);
SELECT left(pg_temp.try_in(repeat(',', 16000)), 80);

-- typmods
SELECT lit, typ, pg_temp.try_in(lit, typ) FROM (VALUES
	('{1:1}/3', 'sparsevec(3)'), ('{1:1}/3', 'sparsevec(2)'),
	('{1:1}/3', 'sparsevec(4)'), ('{1:1}/1000000000', 'sparsevec(1000000000)')) t(lit, typ);
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	('CREATE TEMP TABLE tm0 (v sparsevec(0))'),
	('CREATE TEMP TABLE tm1 (v sparsevec(1000000001))'),
	('CREATE TEMP TABLE tm2 (v sparsevec(2, 3))'),
	('CREATE TEMP TABLE tm3 (v sparsevec(''a''))'),
	('CREATE TEMP TABLE tm4 (v sparsevec(-1))')) t(stmt);
CREATE TABLE io_t (v sparsevec(3));
SELECT format_type(atttypid, atttypmod) FROM pg_attribute
WHERE attrelid = 'io_t'::regclass AND attname = 'v';
INSERT INTO io_t VALUES ('{1:1}/3'), ('{}/3'), (NULL);
SELECT pg_temp.try($$INSERT INTO io_t VALUES ('{1:1}/4')$$);
SELECT pg_temp.try($$UPDATE io_t SET v = '{1:1}/2'$$);
SELECT v FROM io_t;

-- on disk: 16-byte header (varlena, dim, nnz, unused), then int32 indices
-- and float4 values; stored values are not compressed (STORAGE external)
SELECT v, pg_column_size(v) FROM (VALUES ('{}/3'::sparsevec), ('{1:1}/3'),
	('{1:1,2:2,3:3}/3')) t(v);
SELECT typstorage, typlen, typalign FROM pg_type WHERE typname = 'sparsevec';
CREATE TABLE io_big (v sparsevec);
INSERT INTO io_big SELECT ('{' || string_agg(i || ':' || i, ',') || '}/100000')::sparsevec
FROM generate_series(1, 16000) i;
SELECT pg_column_size(v), l2_norm(v) = sqrt(16000.0 * 16001 * 32001 / 6) AS norm_ok FROM io_big;

-- binary output: int32 dim, int32 nnz, int32 unused, 0-based int32
-- indices, float4 values, all big-endian
SELECT sparsevec_send('{1:1.5,3:-2}/4');
SELECT sparsevec_send('{}/4');
SELECT sparsevec_send('{1000000000:1e-45}/1000000000');

-- binary input: the bytes go through COPY (FORMAT binary) into a sparsevec
-- column, which calls sparsevec_recv with the column's typmod
CREATE FUNCTION pg_temp.recv(bytes bytea, typ text DEFAULT 'sparsevec') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	f text := current_setting('data_directory') || '/omendb_sparsevec_recv.bin';
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
-- send -> recv round trip
SELECT v, pg_temp.recv(sparsevec_send(v)) = v::text AS roundtrip
FROM (VALUES ('{1:1,3:2}/3'::sparsevec), ('{}/1'), ('{2:-1e-45,7:3.4028235e38}/1000000000'),
	('{1:0.1,2:0.2}/2')) t(v);
SELECT pg_temp.recv(sparsevec_send(v)) = v::text AS big_roundtrip FROM io_big;
SELECT pg_temp.recv('\x00000003000000010000000000000001bf800000', 'sparsevec(3)');
-- bad binary input
SELECT b AS bytes, typ, pg_temp.recv(b::bytea, typ) FROM (VALUES
	('\x000000000000000000000000', 'sparsevec'),                          -- 0 dimensions
	('\xffffffff0000000000000000', 'sparsevec'),                          -- -1 dimensions
	('\x3b9aca010000000000000000', 'sparsevec'),                          -- 1000000001 dimensions
	('\x00000003ffffffff00000000', 'sparsevec'),                          -- nnz -1
	('\x00004e2100003e8100000000', 'sparsevec'),                          -- nnz 16001
	('\x000000020000000300000000', 'sparsevec'),                          -- nnz > dim
	('\x000000030000000000000000', 'sparsevec(2)'),                       -- typmod mismatch
	('\x000000030000000000000001', 'sparsevec'),                          -- unused = 1
	('\x00000003000000010000000000000003bf800000', 'sparsevec'),          -- index = dim
	('\x000000030000000100000000ffffffffbf800000', 'sparsevec'),          -- index -1
	('\x0000000300000002000000000000000100000000bf8000003f800000', 'sparsevec'), -- descending
	('\x0000000300000002000000000000000100000001bf8000003f800000', 'sparsevec'), -- duplicate
	('\x000000030000000100000000000000007fc00000', 'sparsevec'),          -- NaN
	('\x00000003000000010000000000000000ff800000', 'sparsevec'),          -- -Infinity
	('\x0000000300000001000000000000000000000000', 'sparsevec'),          -- zero
	('\x0000000300000001000000000000000080000000', 'sparsevec'),          -- -0
	('\x000000030000000100000000000000003f80', 'sparsevec'),              -- half a value
	('\x00000003000000010000000000000000', 'sparsevec'),                  -- no value
	('\x0000000300000000', 'sparsevec'),                                  -- no unused field
	('\x', 'sparsevec'),                                                  -- nothing
	('\x0000000300000000000000000000', 'sparsevec')                       -- trailing bytes
	) t(b, typ);
DO $$
BEGIN
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L',
				   'rm -f ' || current_setting('data_directory') || '/omendb_sparsevec_recv.bin');
END $$;

-- text COPY out and in
CREATE TABLE io_copy (id int, v sparsevec);
INSERT INTO io_copy VALUES (1, '{1:1,3:-2.5}/3'), (2, '{}/1'), (3, NULL);
COPY io_copy TO stdout;
CREATE TABLE io_copy2 (LIKE io_copy);
COPY io_copy2 FROM stdin;
1	{3:-2.5,1:1}/3
2	{}/1
3	\N
\.
SELECT a.id, a.v = b.v AS same FROM io_copy a JOIN io_copy2 b USING (id) ORDER BY 1;
DROP TABLE io_t, io_big, io_copy, io_copy2;
