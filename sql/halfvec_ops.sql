-- halfvec distances, functions, arithmetic, ordering and the btree class
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

-- distances: functions and operators agree
SELECT l2_distance('[0,0]'::halfvec, '[3,4]'), '[0,0]'::halfvec <-> '[3,4]',
	halfvec_l2_squared_distance('[0,0]', '[3,4]');
SELECT inner_product('[1,2]'::halfvec, '[3,4]'), '[1,2]'::halfvec <#> '[3,4]',
	halfvec_negative_inner_product('[1,2]', '[3,4]');
SELECT cosine_distance('[1,2]'::halfvec, '[2,4]'), '[1,2]'::halfvec <=> '[-2,-4]',
	cosine_distance('[1,0]'::halfvec, '[0,2]');
SELECT l1_distance('[0,0]'::halfvec, '[3,-4]'), '[1,2]'::halfvec <+> '[-1,2.5]';
-- a zero vector has no direction: cosine distance is NaN
SELECT cosine_distance('[0,0]'::halfvec, '[1,1]'), '[0,0]'::halfvec <=> '[0,0]';
-- results are float sums of the halves' exact values
SELECT l2_distance('[0.1]'::halfvec, '[0]'), inner_product('[0.1,0.1]'::halfvec, '[0.1,0.1]');
-- large values: the sums leave half's range but not float's
SELECT l2_distance('[-65504]'::halfvec, '[65504]'), inner_product('[65504,65504]'::halfvec, '[65504,65504]');
-- spherical distance: angle / pi for unit vectors, clamped to [-1, 1]
SELECT halfvec_spherical_distance('[1,0]', '[0,1]'), halfvec_spherical_distance('[1,0]', '[-1,0]'),
	halfvec_spherical_distance('[2,0]', '[2,0]');
-- dimensions must agree
SELECT pg_temp.try($$SELECT '[1,2]'::halfvec <-> '[1,2,3]'$$);
SELECT pg_temp.try($$SELECT l2_distance('[1,2]'::halfvec, '[1]')$$);
SELECT pg_temp.try($$SELECT halfvec_l2_squared_distance('[1,2]', '[1]')$$);
SELECT pg_temp.try($$SELECT inner_product('[1,2]'::halfvec, '[1]')$$);
SELECT pg_temp.try($$SELECT '[1,2]'::halfvec <#> '[1]'$$);
SELECT pg_temp.try($$SELECT cosine_distance('[1,2]'::halfvec, '[1]')$$);
SELECT pg_temp.try($$SELECT l1_distance('[1,2]'::halfvec, '[1]')$$);
SELECT pg_temp.try($$SELECT halfvec_spherical_distance('[1,2]', '[1]')$$);
-- 16000 dimensions
SELECT l2_distance(h, h), inner_product(h, h), cosine_distance(h, h), l1_distance(h, h)
FROM (SELECT ('[' || repeat('0.5,', 15999) || '0.5]')::halfvec h) t;

-- vector_dims, l2_norm, l2_normalize
SELECT vector_dims('[1,2,3]'::halfvec), l2_norm('[3,4]'::halfvec), l2_norm('[0,0]'::halfvec);
SELECT l2_norm('[65504,65504,65504]'::halfvec);
SELECT l2_normalize('[3,4]'::halfvec), l2_normalize('[0,0]'::halfvec), l2_normalize('[0.001,0]'::halfvec);
SELECT l2_normalize('[65504,65504]'::halfvec), l2_normalize('[1,2,3]'::halfvec);

-- binary_quantize: a bit per element, set when positive (not for 0 or -0)
SELECT binary_quantize('[1,0,-1,-0,0.001,5.9604645e-08,-5.9604645e-08,2,3]'::halfvec);
SELECT binary_quantize('[1]'::halfvec), pg_typeof(binary_quantize('[1]'::halfvec));
SELECT length(binary_quantize(('[' || repeat('1,', 15999) || '-1]')::halfvec)),
	bit_count(binary_quantize(('[' || repeat('1,', 15999) || '-1]')::halfvec));

-- subvector: 1-based, clipped like substring()
SELECT subvector('[1,2,3,4,5]'::halfvec, 2, 3), subvector('[1,2,3,4,5]'::halfvec, 4, 10),
	subvector('[1,2,3,4,5]'::halfvec, -1, 3), subvector('[1,2,3,4,5]'::halfvec, 5, 1);
SELECT pg_temp.try($$SELECT subvector('[1,2,3]'::halfvec, -2147483648, 2147483647)$$);
SELECT pg_temp.try($$SELECT subvector('[1,2,3]'::halfvec, 1, 0)$$);
SELECT pg_temp.try($$SELECT subvector('[1,2,3]'::halfvec, 4, 1)$$);
SELECT pg_temp.try($$SELECT subvector('[1,2,3]'::halfvec, -1, 2)$$);
SELECT pg_temp.try($$SELECT subvector('[1,2,3]'::halfvec, 2, -1)$$);
SELECT pg_temp.try($$SELECT subvector('[1,2,3]'::halfvec, 2147483647, 2147483647)$$);
SELECT subvector('[1,2,3]'::halfvec, 3, 2147483647);

-- arithmetic: in float, rounded once to half
SELECT '[1,2,3]'::halfvec + '[4,5,6]', '[1,2,3]'::halfvec - '[4,5,6]', '[1,2,3]'::halfvec * '[4,5,6]';
SELECT '[0.1]'::halfvec + '[0.2]', '[2048]'::halfvec + '[1]', '[2048]'::halfvec + '[1.0009766]';
SELECT '[65504]'::halfvec - '[65504]', '[0.001]'::halfvec * '[0.001]', '[0.5]'::halfvec * '[-0]';
SELECT '[1,2]'::halfvec || '[3]', '[1]'::halfvec || '[-0]';
-- overflow and underflow are errors; the first bad element decides
SELECT pg_temp.try($$SELECT '[65504]'::halfvec + '[65504]'$$);
SELECT pg_temp.try($$SELECT '[65504]'::halfvec + '[16]'$$);
SELECT '[65504]'::halfvec + '[15]';
SELECT pg_temp.try($$SELECT '[-65504]'::halfvec - '[65504]'$$);
SELECT pg_temp.try($$SELECT '[300]'::halfvec * '[300]'$$);
SELECT pg_temp.try($$SELECT '[0.0001]'::halfvec * '[0.0001]'$$);
SELECT pg_temp.try($$SELECT '[0.0001,300]'::halfvec * '[0.0001,300]'$$);
SELECT pg_temp.try($$SELECT '[300,0.0001]'::halfvec * '[300,0.0001]'$$);
SELECT pg_temp.try($$SELECT '[1,2]'::halfvec + '[1]'$$);
SELECT pg_temp.try($$SELECT '[1,2]'::halfvec - '[1]'$$);
SELECT pg_temp.try($$SELECT '[1,2]'::halfvec * '[1]'$$);
SELECT vector_dims(('[' || repeat('1,', 7999) || '1]')::halfvec || ('[' || repeat('1,', 7999) || '1]')::halfvec);
SELECT pg_temp.try($$SELECT ('[' || repeat('1,', 15999) || '1]')::halfvec || '[1]'$$);

-- ordering: element by element (-0 = 0), then the shorter first
SELECT '[1,2,3]'::halfvec < '[1,2,4]', '[1,2]'::halfvec < '[1,2,0]', '[2]'::halfvec > '[1,9]',
	'[-0]'::halfvec = '[0]', '[0.1]'::halfvec = '[0.1000061]', '[1,2]'::halfvec <> '[1,2]',
	'[1,2]'::halfvec <= '[1,2]', '[1,2]'::halfvec >= '[1,3]';
SELECT halfvec_cmp('[1,2]', '[1,3]'), halfvec_cmp('[1,3]', '[1,2]'), halfvec_cmp('[1]', '[1,0]'),
	halfvec_cmp('[-0]', '[0]');
SELECT halfvec_lt('[1]', '[2]'), halfvec_le('[2]', '[2]'), halfvec_eq('[2]', '[2]'),
	halfvec_ne('[2]', '[3]'), halfvec_ge('[3]', '[2]'), halfvec_gt('[2]', '[3]');

-- btree: ORDER BY, DISTINCT, index scans and unique constraints
CREATE TEMP TABLE hs (id int, v halfvec);
INSERT INTO hs VALUES (1, '[1,2]'), (2, '[1]'), (3, '[0.5,3]'), (4, '[1,2,0]'),
	(5, '[-1]'), (6, '[1,2]'), (7, '[-0,5]'), (8, '[0,5]'), (9, NULL);
SELECT id, v FROM hs ORDER BY v, id;
SELECT DISTINCT v FROM hs ORDER BY v;
CREATE INDEX ON hs (v);
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM hs WHERE v = '[1,2]';
SELECT id FROM hs WHERE v = '[1,2]' ORDER BY id;
SELECT id FROM hs WHERE v > '[1]' ORDER BY v, id;
RESET enable_seqscan;
SELECT pg_temp.try($$CREATE UNIQUE INDEX ON hs (v)$$);
SELECT amopopr::regoperator, amopstrategy FROM pg_amop
WHERE amopfamily = (SELECT opcfamily FROM pg_opclass WHERE opcname = 'halfvec_ops')
ORDER BY amopstrategy;

-- nearest-neighbour queries without an index
SELECT id, v <-> '[1,2]' AS d FROM hs WHERE v IS NOT NULL AND vector_dims(v) = 2 ORDER BY v <-> '[1,2]', id;
