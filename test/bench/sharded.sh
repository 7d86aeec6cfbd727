#!/usr/bin/env bash
# shellcheck shell=bash
# The sharded row of make bench: a k-NN query over a table split by id into two
# postgres_fdw partitions, against one node with the same rows.  The shards are
# databases of the running bench cluster reached through postgres_fdw's loopback
# connections (standing in for two servers), each with an omenhnsw index.
# Sourced-in environment: PGHOST, PGPORT (the running cluster), PG_CONFIG.
#
#   BENCH_SHARD_N        rows [100000]      BENCH_SHARD_DIM   dimensions [128]
#   BENCH_SHARD_QUERIES  pgbench transactions per configuration [500]
#
# Prints, per configuration, the mean latency and QPS of one client (pgbench)
# and recall@10 against the exact answer over the same rows.
set -euo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh

n=${BENCH_SHARD_N:-100000}
dim=${BENCH_SHARD_DIM:-128}
nq=100
txns=${BENCH_SHARD_QUERIES:-500}
half=$((n / 2))
bindir=$(omen_pg_bindir)
work=$(mktemp -d "${TMPDIR:-/tmp}/omendb-shardbench.XXXXXX")
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT

# The same vector for an id in every database: clustered around 20 centres.
gen="CREATE FUNCTION gen_vec(i bigint) RETURNS vector LANGUAGE sql IMMUTABLE AS
\$\$ SELECT array_agg(((abs(hashint8(abs(i) % 20 * $dim + d)) % 1000) / 500.0 - 1
                     + (hashint8(i * $dim + d) % 1000) / 4000.0)::real ORDER BY d)::vector
    FROM generate_series(1, $dim) d \$\$;
CREATE TABLE queries AS SELECT g AS qid, gen_vec(-g) AS v FROM generate_series(1, $nq) g;"

# load DB LO HI: a table t of ids LO..HI with its index
load() {
	omen_psql -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"
	omen_psql -d "$1" -q <<-EOF
		CREATE EXTENSION omendb;
		$gen
		CREATE TABLE t (id bigint PRIMARY KEY, v vector($dim));
		INSERT INTO t SELECT i, gen_vec(i) FROM generate_series($2, $3) i;
		CREATE INDEX ON t USING omenhnsw (v vector_l2_ops);
		VACUUM ANALYZE t;
	EOF
}

echo "-- sharded: $n x $dim rows, one node and two shards"
load shard_single 1 "$n"
load shard_s1 1 "$half"
load shard_s2 $((half + 1)) "$n"
omen_psql -qc "DROP DATABASE IF EXISTS shard_coord" -c "CREATE DATABASE shard_coord"
omen_psql -d shard_coord -q <<EOF
CREATE EXTENSION omendb;
CREATE EXTENSION postgres_fdw;
$gen
CREATE TABLE t (id bigint, v vector($dim)) PARTITION BY RANGE (id);
CREATE SERVER s1 FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '$PGHOST', port '$PGPORT', dbname 'shard_s1', extensions 'omendb');
CREATE SERVER s2 FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '$PGHOST', port '$PGPORT', dbname 'shard_s2', extensions 'omendb');
CREATE USER MAPPING FOR CURRENT_USER SERVER s1;
CREATE USER MAPPING FOR CURRENT_USER SERVER s2;
CREATE FOREIGN TABLE t1 PARTITION OF t FOR VALUES FROM (1) TO ($((half + 1))) SERVER s1 OPTIONS (table_name 't');
CREATE FOREIGN TABLE t2 PARTITION OF t FOR VALUES FROM ($((half + 1))) TO ($((n + 1))) SERVER s2 OPTIONS (table_name 't');
ANALYZE t;
EOF

knn="SELECT id FROM t ORDER BY v <-> (SELECT v FROM queries WHERE qid = :qid) LIMIT 10;"
printf '\\set qid random(1, %d)\n%s\n' "$nq" "$knn" >"$work/knn.sql"
chmod 644 "$work/knn.sql"

# run NAME DB PGOPTIONS: one pgbench client, then recall@10 over the queries
run() {
	local lat tps recall
	read -r lat tps < <(PGOPTIONS=$3 "$bindir/pgbench" -n -t "$txns" -f "$work/knn.sql" "$2" 2>&1 |
		awk '/latency average/ { l = $4 } /^tps/ { t = $3 } END { print l, t }')
	recall=$(PGOPTIONS=$3 omen_psql -d "$2" -At <<-EOF
		CREATE TEMP TABLE got AS SELECT qid, (SELECT array_agg(id) FROM
		  (SELECT id FROM t ORDER BY v <-> q.v LIMIT 10) s) AS ids FROM queries q;
		SELECT round(avg((SELECT count(*) FROM unnest(g.ids) x WHERE x IN
		  (SELECT id FROM exact e WHERE e.qid = g.qid)) / 10.0), 4)
		FROM got g;
	EOF
	)
	printf '%-28s %10s %10s %8s\n' "$1" "$lat" "$tps" "$recall"
}

# exact answers, from the one node without its index, copied to every database that reports
omen_psql -d shard_single -q <<EOF
SET enable_indexscan = off;
CREATE TABLE exact AS SELECT q.qid, s.id FROM queries q, LATERAL
  (SELECT id FROM t ORDER BY v <-> q.v LIMIT 10) s;
EOF
for db in shard_s1 shard_coord; do
	omen_psql -d shard_single -c "COPY exact TO STDOUT" |
		omen_psql -d "$db" -c "CREATE TABLE exact (qid int, id bigint)" -c "COPY exact FROM STDIN"
done

printf '%-28s %10s %10s %8s\n' configuration "latency ms" QPS recall
run "one node" shard_single ""
run "one shard, direct (half)" shard_s1 ""
run "sharded, Merge Append" shard_coord "-c enable_async_append=off"
omen_psql -d shard_coord -qc "ALTER SERVER s1 OPTIONS (ADD async_capable 'true')" \
	-c "ALTER SERVER s2 OPTIONS (ADD async_capable 'true')"
run "sharded, async Append" shard_coord ""
echo "(recall of the direct shard query counts only its half of the rows)"
for db in shard_coord shard_s1 shard_s2 shard_single; do
	omen_psql -qc "DROP DATABASE $db"
done
