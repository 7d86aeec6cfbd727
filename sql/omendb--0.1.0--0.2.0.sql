-- omendb 0.1.0 to 0.2.0
\echo Use "ALTER EXTENSION omendb UPDATE TO '0.2.0'" to load this file. \quit

-- omenhnsw indexes have a new page format (format 2, src/README): an index
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
