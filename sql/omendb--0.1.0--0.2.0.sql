-- omendb 0.1.0 to 0.2.0
\echo Use "ALTER EXTENSION omendb UPDATE TO '0.2.0'" to load this file. \quit

-- omenhnsw indexes have a new page format (src/README): an index
-- built by omendb 0.1.0 raises an error with a hint to REINDEX until it is
-- rebuilt.  Name them now.
DO $$
DECLARE
	idx text;
BEGIN
	SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.oid) INTO idx
	FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE a.amname = 'omenhnsw' AND c.relkind = 'i';
	IF idx IS NOT NULL THEN
		RAISE WARNING 'omenhnsw indexes built by omendb 0.1.0 must be rebuilt: %', idx
			USING HINT = 'REINDEX each of them; indexes built since the new library was installed are already in the new format.';
	END IF;
END
$$;

-- The query vector of a k-NN ORDER BY, with the search settings for that
-- query: omendb's planner applies them (as SET LOCAL) to the query that
-- calls it; a NULL setting is left as it is.  A coordinator wraps the query
-- vector it ships to postgres_fdw partitions in it, with the values of
-- omenhnsw_scan_settings() when the query runs, so its settings reach the
-- shards.  0.2.0 adds scan_mem_multiplier.
DROP FUNCTION omenhnsw_search(vector, integer, text, integer);
CREATE FUNCTION omenhnsw_search(query vector, ef_search integer,
								iterative_scan text, max_scan_tuples integer,
								scan_mem_multiplier double precision DEFAULT NULL)
	RETURNS vector
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION omenhnsw_search(vector, integer, text, integer, double precision) IS 'returns the query vector; omendb''s planner applies the search settings to the query that calls it';
-- The search settings an omenhnsw scan of this session uses: omenhnsw's,
-- or pgvector's hnsw.* settings where omenhnsw's are not set.
CREATE FUNCTION omenhnsw_scan_settings(OUT ef_search integer, OUT iterative_scan text,
									   OUT max_scan_tuples integer,
									   OUT scan_mem_multiplier double precision)
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL SAFE;

-- What a serial omenhnsw build at the current maintenance_work_mem takes:
-- bytes of memory per vector while building, the segments it makes and the
-- index's size, for a row count and dimension or for a table's column.
CREATE FUNCTION omenhnsw_build_estimate(rows bigint, dims integer,
	m integer DEFAULT 16, opclass text DEFAULT 'vector_l2_ops',
	OUT bytes_per_vector bigint, OUT segments bigint, OUT index_bytes bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'omenhnsw_build_estimate' LANGUAGE C STABLE STRICT PARALLEL SAFE;
CREATE FUNCTION omenhnsw_build_estimate(tbl regclass, col name,
	m integer DEFAULT 16, opclass text DEFAULT 'vector_l2_ops',
	OUT bytes_per_vector bigint, OUT segments bigint, OUT index_bytes bigint)
	RETURNS record
	AS 'MODULE_PATHNAME', 'omenhnsw_build_estimate_table' LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION omenhnsw_build_estimate(bigint, integer, integer, text) IS 'memory per vector, segments and index size of a serial omenhnsw build at the current maintenance_work_mem';
COMMENT ON FUNCTION omenhnsw_build_estimate(regclass, name, integer, text) IS 'memory per vector, segments and index size of a serial omenhnsw build of a table''s column at the current maintenance_work_mem';

-- omenhnsw operator classes for halfvec and bit.  An index keeps the
-- column's halves or bits as its exact vectors; the support function names
-- the type and metric, as for vector.  The distance bound operator <@ is
-- that of the vector classes (see omendb--0.1.0.sql); its functions have
-- names of their own, so that omenhnsw_distance_bound(NULL, NULL) still
-- resolves.
CREATE FUNCTION omenhnsw_halfvec_distance_bound(halfvec, float8) RETURNS bool
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN true;
CREATE OPERATOR <@ (
	LEFTARG = halfvec,
	RIGHTARG = float8,
	FUNCTION = omenhnsw_halfvec_distance_bound
);
COMMENT ON FUNCTION omenhnsw_halfvec_distance_bound(halfvec, float8) IS 'always true: the distance bound that omendb adds to omenhnsw scans';
COMMENT ON OPERATOR <@ (halfvec, float8) IS 'always true: the distance bound that omendb adds to omenhnsw scans';

CREATE FUNCTION omenhnsw_bit_distance_bound(bit, float8) RETURNS bool
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN true;
CREATE OPERATOR <@ (
	LEFTARG = bit,
	RIGHTARG = float8,
	FUNCTION = omenhnsw_bit_distance_bound
);
COMMENT ON FUNCTION omenhnsw_bit_distance_bound(bit, float8) IS 'always true: the distance bound that omendb adds to omenhnsw scans';
COMMENT ON OPERATOR <@ (bit, float8) IS 'always true: the distance bound that omendb adds to omenhnsw scans';

CREATE OPERATOR CLASS halfvec_l2_ops
	FOR TYPE halfvec USING omenhnsw AS
	OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (halfvec, float8),
	FUNCTION 1 halfvec_l2_squared_distance(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_ip_ops
	FOR TYPE halfvec USING omenhnsw AS
	OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (halfvec, float8),
	FUNCTION 1 halfvec_negative_inner_product(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_cosine_ops
	FOR TYPE halfvec USING omenhnsw AS
	OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (halfvec, float8),
	FUNCTION 1 cosine_distance(halfvec, halfvec);

CREATE OPERATOR CLASS halfvec_l1_ops
	FOR TYPE halfvec USING omenhnsw AS
	OPERATOR 1 <+> (halfvec, halfvec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (halfvec, float8),
	FUNCTION 1 l1_distance(halfvec, halfvec);

CREATE OPERATOR CLASS bit_hamming_ops
	FOR TYPE bit USING omenhnsw AS
	OPERATOR 1 <~> (bit, bit) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (bit, float8),
	FUNCTION 1 hamming_distance(bit, bit);

CREATE OPERATOR CLASS bit_jaccard_ops
	FOR TYPE bit USING omenhnsw AS
	OPERATOR 1 <%> (bit, bit) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (bit, float8),
	FUNCTION 1 jaccard_distance(bit, bit);

-- omenhnsw operator classes for sparsevec.  An index keeps each value's
-- non-zero count, indices and values as its exact vector, and codes a
-- value of more than 512 dimensions from a hashing sketch of it (see
-- src/README, Element kinds); the rest is as for halfvec and bit above.
CREATE FUNCTION omenhnsw_sparsevec_distance_bound(sparsevec, float8) RETURNS bool
	LANGUAGE sql IMMUTABLE PARALLEL SAFE
	RETURN true;
CREATE OPERATOR <@ (
	LEFTARG = sparsevec,
	RIGHTARG = float8,
	FUNCTION = omenhnsw_sparsevec_distance_bound
);
COMMENT ON FUNCTION omenhnsw_sparsevec_distance_bound(sparsevec, float8) IS 'always true: the distance bound that omendb adds to omenhnsw scans';
COMMENT ON OPERATOR <@ (sparsevec, float8) IS 'always true: the distance bound that omendb adds to omenhnsw scans';

CREATE OPERATOR CLASS sparsevec_l2_ops
	FOR TYPE sparsevec USING omenhnsw AS
	OPERATOR 1 <-> (sparsevec, sparsevec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (sparsevec, float8),
	FUNCTION 1 sparsevec_l2_squared_distance(sparsevec, sparsevec);

CREATE OPERATOR CLASS sparsevec_ip_ops
	FOR TYPE sparsevec USING omenhnsw AS
	OPERATOR 1 <#> (sparsevec, sparsevec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (sparsevec, float8),
	FUNCTION 1 sparsevec_negative_inner_product(sparsevec, sparsevec);

CREATE OPERATOR CLASS sparsevec_cosine_ops
	FOR TYPE sparsevec USING omenhnsw AS
	OPERATOR 1 <=> (sparsevec, sparsevec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (sparsevec, float8),
	FUNCTION 1 cosine_distance(sparsevec, sparsevec);

CREATE OPERATOR CLASS sparsevec_l1_ops
	FOR TYPE sparsevec USING omenhnsw AS
	OPERATOR 1 <+> (sparsevec, sparsevec) FOR ORDER BY float_ops,
	OPERATOR 2 <@ (sparsevec, float8),
	FUNCTION 1 l1_distance(sparsevec, sparsevec);
