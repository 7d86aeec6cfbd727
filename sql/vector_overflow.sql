-- Distances whose terms overflow float4.  An inner product keeps the sign
-- of its true sum: an infinity only when that sum is beyond float4's range,
-- never NaN.  Sums of squares and of absolute values overflow to
-- +Infinity; cosine distance is NaN when a norm overflows, as in pgvector.
SELECT inner_product('[-1.0139457e+29,1.2441286e+17]'::vector,
					 '[2.871957e+30,2.066775e+25]'::vector) AS ip,
	'[-1.0139457e+29,1.2441286e+17]'::vector <#>
	'[2.871957e+30,2.066775e+25]'::vector AS neg_ip;
SELECT a, b, inner_product(a::vector, b::vector) AS ip,
	a::vector <#> b::vector AS neg_ip
FROM (VALUES
	('[1e20,1e20]', '[1e20,-1e20]'),
	('[1e20,1e20,3]', '[1e20,-1e20,2]'),
	('[3e38,3e38,-3e38]', '[1,1,1]'),
	('[1e20,1e20]', '[2e20,-1e20]'),
	('[1e20,1e20]', '[1e20,-2e20]'),
	('[3e38,3e38]', '[3e38,-3e38]'),
	('[1,2,3,4,5,6,7,8,9,1e30]', '[1,1,1,1,1,1,1,1,1,-1e30]')) t(a, b);
-- the same over every position of the huge products, 1 to 40 dimensions
SELECT n, count(*) AS pairs,
	count(*) FILTER (WHERE ip = 'NaN') AS nan,
	count(*) FILTER (WHERE ip = '-Infinity') AS minus_inf,
	count(*) FILTER (WHERE ip = n - 2) AS exact
FROM (SELECT n, inner_product(
		array_agg(CASE WHEN k IN (i, j) THEN 1e20 ELSE 1 END ORDER BY k)::vector,
		array_agg(CASE k WHEN i THEN 1e20 WHEN j THEN -1e20 ELSE 1 END ORDER BY k)::vector) AS ip
	  FROM generate_series(2, 40) n, generate_series(1, n) i,
		   generate_series(1, n) j, generate_series(1, n) k
	  WHERE i <> j
	  GROUP BY n, i, j) t
GROUP BY n HAVING count(*) <> count(*) FILTER (WHERE ip = n - 2)
ORDER BY n;
SELECT count(*) AS pairs, count(*) FILTER (WHERE ip = '-Infinity') AS minus_inf
FROM (SELECT inner_product(
		array_agg(CASE WHEN k IN (i, j) THEN 1e20 ELSE 1 END ORDER BY k)::vector,
		array_agg(CASE k WHEN i THEN 1e20 WHEN j THEN -2e20 ELSE 1 END ORDER BY k)::vector) AS ip
	  FROM generate_series(1, 20) i, generate_series(1, 20) j,
		   generate_series(1, 20) k
	  WHERE i <> j
	  GROUP BY i, j) t;
-- other distances
SELECT l2_distance('[3e38,-3e38]'::vector, '[-3e38,3e38]') AS l2,
	vector_l2_squared_distance('[1e20]'::vector, '[0]') AS l2sq,
	l1_distance('[3e38,-3e38]'::vector, '[-3e38,3e38]') AS l1,
	'[1e20]'::vector <+> '[-1e20]' AS l1_finite,
	cosine_distance('[3e38,3e38]'::vector, '[3e38,3e38]') AS cos_huge,
	cosine_distance('[1e20,0]'::vector, '[1e-20,1]') AS cos_orthogonal,
	vector_norm('[3e38,3e38]') AS norm,
	l2_normalize('[3e38,3e38]'::vector) AS unit;
