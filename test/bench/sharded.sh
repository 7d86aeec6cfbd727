#!/usr/bin/env bash
# shellcheck shell=bash
# The sharded row of make bench: a k-NN query over a table split by id into two
# postgres_fdw partitions on two shard clusters started here, each with an omenhnsw
# index; the running bench cluster is the coordinator and also holds one node with
# all the rows.
# Sourced-in environment: PGHOST, PGPORT (the running cluster), PG_CONFIG.
#
#   BENCH_SHARD_N        rows [100000]      BENCH_SHARD_DIM   dimensions [128]
#   BENCH_SHARD_QUERIES  pgbench transactions per configuration [500]
#
# Prints, per configuration, the mean latency and QPS of one client (pgbench) and
# recall@10 against the exact answer over the same rows; then each sharded
# configuration's latency against the slowest shard's direct query plus one round
# trip (a pgbench "SELECT 1" to a shard), the ratio the sharded query aims to keep
# under 1.3, and where the coordinator's time goes (planning, execution).  The
# "vectors sent" row selects a function of the vector, so that each shard sends
# its rows' vectors instead of their distances.
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
_omen_add_exit_trap "rm -rf '$work'"
coord_host=$PGHOST
coord_port=$PGPORT

# start_shard: starts a cluster of its own (stopped on exit) and prints its
# directory, socket directory and port.
start_shard() {
	(
		unset OMEN_CLUSTER_DIR
		_omen_trap_set=1
		omen_cluster_start "shared_buffers = 256MB" "jit = off" >/dev/null
		echo "$OMEN_CLUSTER_DIR $PGHOST $PGPORT"
	)
}
declare -a shard_host shard_port
for s in 1 2; do
	read -r dir host port < <(start_shard)
	_omen_add_exit_trap "(OMEN_CLUSTER_DIR='$dir' omen_cluster_stop)"
	shard_host[s]=$host
	shard_port[s]=$port
done

# on S COMMAND...: runs COMMAND against shard S (0: the coordinator)
on() {
	local s=$1
	shift
	if [ "$s" = 0 ]; then
		PGHOST=$coord_host PGPORT=$coord_port "$@"
	else
		PGHOST=${shard_host[s]} PGPORT=${shard_port[s]} "$@"
	fi
}

# The same vector for an id in every database: clustered around 20 centres.
gen="CREATE FUNCTION gen_vec(i bigint) RETURNS vector LANGUAGE sql IMMUTABLE AS
\$\$ SELECT array_agg(((abs(hashint8(abs(i) % 20 * $dim + d)) % 1000) / 500.0 - 1
                     + (hashint8(i * $dim + d) % 1000) / 4000.0)::real ORDER BY d)::vector
    FROM generate_series(1, $dim) d \$\$;
CREATE TABLE queries AS SELECT g AS qid, gen_vec(-g) AS v FROM generate_series(1, $nq) g;"

# load S DB LO HI: on shard S, database DB with a table t of ids LO..HI and its index
load() {
	on "$1" omen_psql -qc "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2"
	on "$1" omen_psql -d "$2" -q <<-EOF
		CREATE EXTENSION omendb;
		$gen
		CREATE TABLE t (id bigint PRIMARY KEY, v vector($dim));
		INSERT INTO t SELECT i, gen_vec(i) FROM generate_series($3, $4) i;
		CREATE INDEX ON t USING omenhnsw (v vector_l2_ops);
		VACUUM ANALYZE t;
	EOF
}

echo "-- sharded: $n x $dim rows, one node and two shard clusters"
load 0 shard_single 1 "$n"
load 1 shard 1 "$half"
load 2 shard $((half + 1)) "$n"
on 0 omen_psql -qc "DROP DATABASE IF EXISTS shard_coord" -c "CREATE DATABASE shard_coord"
on 0 omen_psql -d shard_coord -q <<EOF
CREATE EXTENSION omendb;
CREATE EXTENSION postgres_fdw;
$gen
CREATE TABLE t (id bigint, v vector($dim)) PARTITION BY RANGE (id);
CREATE SERVER s1 FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '${shard_host[1]}', port '${shard_port[1]}', dbname 'shard', extensions 'omendb');
CREATE SERVER s2 FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '${shard_host[2]}', port '${shard_port[2]}', dbname 'shard', extensions 'omendb');
CREATE USER MAPPING FOR CURRENT_USER SERVER s1;
CREATE USER MAPPING FOR CURRENT_USER SERVER s2;
CREATE FOREIGN TABLE t1 PARTITION OF t FOR VALUES FROM (1) TO ($((half + 1))) SERVER s1 OPTIONS (table_name 't');
CREATE FOREIGN TABLE t2 PARTITION OF t FOR VALUES FROM ($((half + 1))) TO ($((n + 1))) SERVER s2 OPTIONS (table_name 't');
ANALYZE t;
EOF

qvec="(SELECT v FROM queries WHERE qid = :qid)"
printf '\\set qid random(1, %d)\nSELECT id FROM t ORDER BY v <-> %s LIMIT 10;\n' "$nq" "$qvec" >"$work/knn.sql"
printf '\\set qid random(1, %d)\n\\set k 10\nSELECT id FROM t ORDER BY v <-> %s LIMIT :k;\n' \
	"$nq" "$qvec" >"$work/knn_param.sql"
printf '\\set qid random(1, %d)\nSELECT id, v IS NOT NULL FROM t ORDER BY v <-> %s LIMIT 10;\n' \
	"$nq" "$qvec" >"$work/knn_vector.sql"
echo "SELECT 1;" >"$work/select1.sql"
chmod 644 "$work"/*.sql

# bench S DB SCRIPT: mean latency (ms) and QPS of one client, prepared statements
bench() {
	on "$1" "$bindir/pgbench" -n -M prepared -t "$txns" -f "$work/$3" "$2" 2>&1 |
		awk '/latency average/ { l = $4 } /^tps/ { t = $3 } END { print l, t }'
}

# recall S DB: recall@10 over the queries, against the exact answers
recall() {
	on "$1" omen_psql -d "$2" -At <<-EOF
		CREATE TEMP TABLE got AS SELECT qid, (SELECT array_agg(id) FROM
		  (SELECT id FROM t ORDER BY v <-> q.v LIMIT 10) s) AS ids FROM queries q;
		SELECT round(avg((SELECT count(*) FROM unnest(g.ids) x WHERE x IN
		  (SELECT id FROM exact e WHERE e.qid = g.qid)) / 10.0), 4)
		FROM got g;
	EOF
}

# exact answers, from the one node without its index, copied to every database that reports
on 0 omen_psql -d shard_single -q <<EOF
SET enable_indexscan = off;
CREATE TABLE exact AS SELECT q.qid, s.id FROM queries q, LATERAL
  (SELECT id FROM t ORDER BY v <-> q.v LIMIT 10) s;
EOF
for s in 0 1; do
	db=shard
	[ "$s" = 0 ] && db=shard_coord
	on 0 omen_psql -d shard_single -c "COPY exact TO STDOUT" |
		on "$s" omen_psql -d "$db" -c "CREATE TABLE exact (qid int, id bigint)" -c "COPY exact FROM STDIN"
done

# row NAME LATENCY QPS RECALL
row() { printf '%-44s %10s %10s %8s\n' "$@"; }

# server_options OPTION...: sets (ADD or SET) postgres_fdw options of both servers
server_options() {
	local opts=$1 s
	for s in s1 s2; do
		on 0 omen_psql -d shard_coord -qc "ALTER SERVER $s OPTIONS ($opts)"
	done
}

row configuration "latency ms" QPS recall
read -r lat tps < <(bench 0 shard_single knn.sql)
row "one node" "$lat" "$tps" "$(recall 0 shard_single)"
slowest=0
for s in 1 2; do
	read -r lat tps < <(bench "$s" shard knn.sql)
	row "shard $s, direct (half the rows)" "$lat" "$tps" "$([ "$s" = 1 ] && recall 1 shard || echo -)"
	slowest=$(awk -v a="$slowest" -v b="$lat" 'BEGIN { print (b > a ? b : a) }')
done
read -r rtt tps < <(bench 1 shard select1.sql)
row "round trip to a shard (SELECT 1)" "$rtt" "$tps" -
target=$(awk -v a="$slowest" -v b="$rtt" 'BEGIN { printf "%.3f", a + b }')

declare -a sharded
# sharded NAME SCRIPT PGOPTIONS [recall]
sharded() {
	local lat tps r=-
	read -r lat tps < <(PGOPTIONS=$3 bench 0 shard_coord "$2")
	[ -z "${4:-}" ] || r=$(PGOPTIONS=$3 recall 0 shard_coord)
	row "$1" "$lat" "$tps" "$r"
	sharded+=("$1|$lat")
}
generic="-c plan_cache_mode=force_generic_plan"
sharded "sharded, Merge Append" knn.sql "-c enable_async_append=off" recall
server_options "ADD async_capable 'true'"
sharded "sharded, async Append" knn.sql "" recall
sharded "sharded, async Append, LIMIT \$1 (generic)" knn_param.sql "$generic"
sharded "sharded, async Append, vectors sent" knn_vector.sql ""
server_options "ADD parallel_commit 'true'"
sharded "sharded, async Append, parallel_commit" knn.sql ""
server_options "SET parallel_commit 'false'"
server_options "ADD use_remote_estimate 'true'"
sharded "sharded, async, use_remote_estimate" knn.sql "" recall
sharded "sharded, async, remote estimate, LIMIT \$1" knn_param.sql "$generic"
server_options "SET use_remote_estimate 'false'"
echo "(recall of a direct shard query counts only its half of the rows;"
echo " every row: pgbench -M prepared; the query vector is a sub-select, shipped as a parameter)"

echo
echo "target: slowest shard direct $slowest + round trip $rtt = $target ms"
for entry in "${sharded[@]}"; do
	awk -v name="${entry%|*}" -v lat="${entry##*|}" -v t="$target" \
		'BEGIN { printf "%-44s %6.2fx the target\n", name, lat / t }'
done

# Where the coordinator's time goes: planning and execution times of
# EXPLAIN ANALYZE, averaged over the queries, with and without remote estimates.
explain_times() {
	on 0 omen_psql -d shard_coord -At <<-EOF
		CREATE FUNCTION pg_temp.times(q int) RETURNS TABLE (planning float8, execution float8)
		LANGUAGE plpgsql AS \$\$
		DECLARE line text; p float8; e float8;
		BEGIN
		  FOR line IN EXECUTE format('EXPLAIN (ANALYZE, TIMING OFF) SELECT id FROM t ORDER BY v <-> (SELECT v FROM queries WHERE qid = %s) LIMIT 10', q) LOOP
		    IF line LIKE 'Planning Time:%' THEN p := substring(line from '([0-9.]+) ms')::float8; END IF;
		    IF line LIKE 'Execution Time:%' THEN e := substring(line from '([0-9.]+) ms')::float8; END IF;
		  END LOOP;
		  RETURN QUERY SELECT p, e;
		END \$\$;
		SELECT format('%s ms planning, %s ms execution', round(avg(planning)::numeric, 3),
		              round(avg(execution)::numeric, 3))
		FROM generate_series(1, $nq) q, pg_temp.times(q);
	EOF
}
echo "coordinator, async Append: $(explain_times)"
server_options "SET use_remote_estimate 'true'"
echo "coordinator, async Append, use_remote_estimate: $(explain_times)"

on 0 omen_psql -qc "DROP DATABASE shard_coord" -c "DROP DATABASE shard_single"
