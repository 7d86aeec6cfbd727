#!/usr/bin/env bash
# Remakes pgvector_dump.sql and pgvector_dump.expected, the data of test/t/060_pgvector_dump.pl.
# Needs a running server with pgvector installed (extension `vector`), reached through the
# usual PG* variables, and its pg_dump on PATH; makes and drops the database pgvector_dump_src.
#
# pgvector_dump.sql: pg_dump's plain output of a database made with pgvector-style DDL: tables
# with vector, halfvec, sparsevec and bit columns (with and without typmods, NULLs, a generated
# column) and HNSW indexes for every type's operator classes.
# pgvector_dump.expected: one line per table, "table rows md5", the md5 being that of pgvector's
# text form of the whole table (row::text, one row a line, ordered by id).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
db=pgvector_dump_src
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }

psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
psql -d "$db" <<'SQL'
CREATE EXTENSION vector;
SELECT setseed(0.13) \g /dev/null

CREATE TABLE items (
	id int PRIMARY KEY,
	embedding vector(16),
	half halfvec(16),
	sparse sparsevec(1000),
	bits bit(64),
	quantized bit(16) GENERATED ALWAYS AS (binary_quantize(embedding)::bit(16)) STORED,
	label text
);
-- every 23rd row has no embedding, every 19th no halfvec, every 29th no sparsevec, every 31st no bits
INSERT INTO items (id, embedding, half, sparse, bits, label)
SELECT g,
	CASE WHEN g % 23 <> 0 THEN
		(SELECT array_agg((random() * 2 - 1)::real) FROM generate_series(1, 16) WHERE g > 0)::vector END,
	CASE WHEN g % 19 <> 0 THEN
		(SELECT array_agg(round((random() * 20 - 10)::numeric, 3)) FROM generate_series(1, 16) WHERE g > 0)::halfvec END,
	CASE WHEN g % 29 <> 0 THEN
		(SELECT format('{%s}/1000', string_agg(format('%s:%s', i, (random() * 4 - 2)::real), ',' ORDER BY i))
		 FROM (SELECT DISTINCT 1 + floor(random() * 1000)::int AS i
			   FROM generate_series(1, 1 + g % 9) WHERE g > 0) s)::sparsevec END,
	CASE WHEN g % 31 <> 0 THEN
		floor(random() * 4294967296)::bigint::bit(32) || floor(random() * 4294967296)::bigint::bit(32) END,
	'item ' || g
FROM generate_series(1, 300) g;

-- values at the edges of each type's text form, no typmods
CREATE TABLE edge_cases (id int PRIMARY KEY, v vector, h halfvec, s sparsevec, b bit varying);
INSERT INTO edge_cases VALUES
	(1, '[1e-45,-0,3.4028235e+38,-3.4028235e+38,0.1,1.0000001,123456.79]',
		'[65504,-65504,6e-08,-0,6.1035156e-05,0.1,1]',
		'{1:1e-45,1000000000:3.4028235e+38}/1000000000', B'1'),
	(2, '[1]', '[-1.5]', '{}/5', B''),
	(3, '[0,0,0]', '[0,0,0]', '{2:-0.5,3:7}/3', B'1010101010101010101'),
	(4, NULL, NULL, NULL, NULL);

CREATE INDEX items_embedding_l2 ON items USING hnsw (embedding vector_l2_ops)
	WITH (m = 8, ef_construction = 32);
CREATE INDEX items_embedding_ip ON items USING hnsw (embedding vector_ip_ops) WITH (m = 12);
CREATE INDEX items_embedding_cosine ON items USING hnsw (embedding vector_cosine_ops);
CREATE INDEX items_embedding_l1 ON items USING hnsw (embedding vector_l1_ops);
CREATE INDEX items_half_l2 ON items USING hnsw (half halfvec_l2_ops) WITH (m = 8);
CREATE INDEX items_embedding_half_cosine ON items
	USING hnsw ((embedding::halfvec(16)) halfvec_cosine_ops);
CREATE INDEX items_bits_hamming ON items USING hnsw (bits bit_hamming_ops);
CREATE INDEX items_quantized_jaccard ON items USING hnsw (quantized bit_jaccard_ops);
CREATE INDEX items_sparse_l2 ON items USING hnsw (sparse sparsevec_l2_ops);
CREATE INDEX items_sparse_ip ON items USING hnsw (sparse sparsevec_ip_ops);
SQL

pg_dump --no-owner --no-privileges -d "$db" -f pgvector_dump.sql
psql -d "$db" -At -F ' ' -c "
	SELECT 'items', count(*), md5(string_agg(t::text, E'\n' ORDER BY id)) FROM items t
	UNION ALL
	SELECT 'edge_cases', count(*), md5(string_agg(t::text, E'\n' ORDER BY id)) FROM edge_cases t" \
	>pgvector_dump.expected
psql -d postgres -c "DROP DATABASE $db"
