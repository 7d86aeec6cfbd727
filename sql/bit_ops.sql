-- pgvector's distances on PostgreSQL's bit type, and binary_quantize
CREATE FUNCTION pg_temp.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE stmt;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT a, b, hamming_distance(a, b), a <~> b AS "<~>", jaccard_distance(a, b),
	   a <%> b AS "<%>"
FROM (VALUES (B'1010', B'0110'), (B'1111', B'1111'), (B'0000', B'0000'),
	(B'', B''), (B'1', B'0'), (B'000', B'111'), (B'1100110011', B'1010101010'),
	('101'::varbit, '001'::bit(3))) t(a, b);
-- different lengths
SELECT stmt, pg_temp.try(stmt) FROM (VALUES
	($$SELECT B'1010' <~> B'011'$$),
	($$SELECT B'1010' <%> B'011'$$),
	($$SELECT hamming_distance(B'', B'1')$$),
	($$SELECT jaccard_distance(B'10000000', B'100000001')$$)) t(stmt);

-- long strings (whole 64-bit words, then the last bytes) against counts
-- made bit by bit with PostgreSQL's own functions
CREATE TABLE bit_t AS
SELECT n, string_agg(CASE WHEN random() < 0.3 THEN '1' ELSE '0' END, '')::varbit AS a,
	   string_agg(CASE WHEN random() < 0.6 THEN '1' ELSE '0' END, '')::varbit AS b
FROM generate_series(1, 200) n, generate_series(1, n * 37) i GROUP BY n;
SELECT count(*) AS strings,
	   count(*) FILTER (WHERE a <~> b = length(replace((a # b)::text, '0', ''))) AS hamming_ok,
	   count(*) FILTER (WHERE a <%> b = CASE WHEN position('1' IN (a & b)::text) = 0 THEN 1
			ELSE 1 - length(replace((a & b)::text, '0', ''))::float8 /
					 length(replace((a | b)::text, '0', '')) END) AS jaccard_ok
FROM bit_t;
SELECT hamming_distance(repeat('1', 64000)::varbit, repeat('0', 64000)::varbit),
	   jaccard_distance(repeat('1', 64000)::varbit, repeat('01', 32000)::varbit);
DROP TABLE bit_t;

-- binary_quantize: 1 where an element is positive
SELECT binary_quantize('[1,-2,0,3.5,0.1,-0.1,1,1,1]'::vector);
SELECT binary_quantize('[0]'::vector), binary_quantize('[-0,1e-45]'::vector);
SELECT length(binary_quantize(array_fill(1, ARRAY[16000])::vector)),
	   binary_quantize(array_fill(1, ARRAY[16000])::vector) = repeat('1', 16000)::varbit AS all_ones;
-- pgvector's re-ranking pattern: Hamming on the quantized vectors
SELECT binary_quantize('[1,-1,1,-1]'::vector)::bit(4) <~> binary_quantize('[1,1,1,1]'::vector) AS d;
