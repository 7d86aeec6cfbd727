-- vector text and binary I/O, typmods, on-disk form
-- try(): run a statement, report 'ok' or SQLSTATE: message
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- text input: whitespace, signs, exponents; output is shortest round-trip
SELECT '[1,2,3]'::vector;
SELECT E' \t[ 1 ,\n2.5 , -0.001\r]\f '::vector;
SELECT '[+1,-0,0.1,1e3,1E-3,0x1p3,.5,5.]'::vector;
SELECT '[3.4028235e38,-3.4028235e38,1.17549435e-38,1e-45]'::vector;
SELECT '[123456789,0.3333333333333333,16777217]'::vector;
-- underflow to zero or a subnormal is accepted, as in pgvector
SELECT '[1e-50,1e-40]'::vector;
-- output round-trips through input
SELECT v::text::vector = v AS roundtrip
FROM (VALUES ('[0.1,0.2,0.30000001]'::vector), ('[1e-45,3.4028235e38,-7]')) t(v);

-- elements read exactly as float4in reads them, bit for bit: decimals of up
-- to 21 digits and exponents to 15, shortest forms of random floats (what
-- clients send), exact halfway points between floats (ties to even), and
-- two 16-digit decimals whose nearest double is such a halfway point
SELECT setseed(0.42);
WITH lit AS (
	SELECT (CASE WHEN random() < 0.3 THEN '-' ELSE '' END) ||
		left(floor(random() * 1e9)::bigint::text, (random() * 9)::int) ||
		(CASE WHEN random() < 0.8
			THEN '.' || left(floor(random() * 1e12)::bigint::text, (random() * 12)::int)
			ELSE '' END) ||
		(CASE WHEN random() < 0.4
			THEN (CASE WHEN random() < 0.5 THEN 'e' ELSE 'E' END) ||
				(floor(random() * 31) - 15)::int
			ELSE '' END) AS s
	FROM generate_series(1, 50000)
	UNION ALL
	SELECT ((random() * 2 - 1) * 10 ^ (floor(random() * 20) - 10))::real::text
	FROM generate_series(1, 50000)
	UNION ALL
	SELECT s FROM unnest(ARRAY['16777217', '16777219', '33554434', '33554438',
		'1.00000005960464477539062500', '0.500000029802322387695312500',
		'1.00000017881393432617187500', '3.4028235e38', '3.40282356e38',
		'1.1754943e-38', '1.1754942e-38', '1e-45', '0.0', '-0e9',
		'50.45204734802246', '84.70273971557617', '000123.4500', '1.e5',
		'.25e-2', '9007199254740993', '1e22', '1e23']) s
)
SELECT count(*) AS literals,
	count(*) FILTER (WHERE float4send((('[' || s || ']')::vector::real[])[1])
		<> float4send(s::real)) AS mismatches
FROM lit WHERE s ~ '^-?(\d|\.\d)';

-- typmod
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2]'::vector(3);
SELECT '[1,2,3]'::vector::vector(3), '[1,2,3]'::vector(3)::vector;
SELECT '[1,2,3]'::vector::vector(2);
SELECT format_type('vector'::regtype, 3), format_type('vector'::regtype, -1);
SELECT pg_temp.try(stmt) FROM (VALUES
	('SELECT ''[1]''::vector(0)'),
	('SELECT ''[1]''::vector(-1)'),
	('SELECT ''[1]''::vector(16001)'),
	('SELECT ''[1]''::vector(1, 2)'),
	('SELECT ''[1]''::vector(a)')) t(stmt);
CREATE TABLE io_t (id int, v vector(3));
\d io_t
INSERT INTO io_t VALUES (1, '[1,2,3]'), (2, '[-1.5,0,1e-7]');
INSERT INTO io_t VALUES (3, '[1,2]');
UPDATE io_t SET v = '[1,2,3,4]' WHERE id = 1;
SELECT * FROM io_t ORDER BY id;

-- limits: 16000 dimensions is the most
SELECT vector_dims(('[' || repeat('1,', 15999) || '2]')::vector);
SELECT pg_temp.try('SELECT ''[' || repeat('1,', 16000) || '2]''::vector');

-- on-disk datum: 4-byte header, int16 dim, int16 unused, float4s; stored
-- uncompressed out of line when large (STORAGE external)
SELECT typstorage, typlen, typalign FROM pg_type WHERE oid = 'vector'::regtype;
SELECT pg_column_size('[1,2,3]'::vector);
CREATE TABLE io_big (v vector);
INSERT INTO io_big SELECT ('[' || repeat('0.5,', 15999) || '1]')::vector;
SELECT pg_column_size(v), vector_dims(v), v = ('[' || repeat('0.5,', 15999) || '1]')::vector AS same
FROM io_big;

-- binary output: uint16 dim, uint16 unused, big-endian float4s
SELECT vector_send('[1,2,3]');
SELECT vector_send('[-0,1e-45,-3.4028235e38]');
SELECT vector_send('[0.5]');

-- binary input: the bytes go through COPY (FORMAT binary) into a vector
-- column, which calls vector_recv with the column's typmod
CREATE FUNCTION pg_temp.recv(bytes bytea, typ text DEFAULT 'vector') RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
	f text := current_setting('data_directory') || '/omendb_vector_recv.bin';
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
SELECT v, pg_temp.recv(vector_send(v)) = v::text AS roundtrip
FROM (VALUES ('[1,2,3]'::vector), ('[-0,1e-45,-3.4028235e38]'), ('[0.1,0.2]')) t(v);
SELECT pg_temp.recv('\x000300003f8000004000000040400000', 'vector(3)');
-- bad binary input
SELECT b AS bytes, typ, pg_temp.recv(b::bytea, typ) FROM (VALUES
	('\x00000000', 'vector'),                       -- 0 dimensions
	('\x3e810000', 'vector'),                       -- 16001 dimensions
	('\xffff0000', 'vector'),                       -- 65535 dimensions
	('\x000100013f800000', 'vector'),               -- unused = 1
	('\x00018000bf800000', 'vector'),               -- unused = 0x8000
	('\x000100007fc00000', 'vector'),               -- NaN
	('\x000100007f800000', 'vector'),               -- +Infinity
	('\x00010000ff800000', 'vector'),               -- -Infinity
	('\x000200003f800000', 'vector'),               -- one float missing
	('\x000200003f8000', 'vector'),                 -- half a float
	('\x0001', 'vector'),                           -- no unused field
	('\x', 'vector'),                               -- nothing
	('\x000100003f80000000', 'vector'),             -- trailing byte
	('\x000100003f800000', 'vector(2)')             -- typmod mismatch
	) t(b, typ);
DO $$
BEGIN
	EXECUTE format('COPY (SELECT 1) TO PROGRAM %L',
				   'rm -f ' || current_setting('data_directory') || '/omendb_vector_recv.bin');
END $$;

-- text COPY out and in
CREATE TABLE io_copy (id int, v vector);
INSERT INTO io_copy VALUES (1, '[1,-2.5,3e-20]'), (2, '[0.1]'), (3, NULL);
COPY io_copy TO STDOUT;
COPY io_copy (id, v) FROM STDIN;
4	[4, 5 ,6]
\.
SELECT * FROM io_copy ORDER BY id;

DROP TABLE io_t, io_big, io_copy;
