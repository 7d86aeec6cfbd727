#!/usr/bin/env bash
# shellcheck shell=bash
# The sharded row of make bench: a k-NN query over a table split by id into two
# postgres_fdw partitions on two shard clusters started here, each with an omenhnsw
# index.  The running bench cluster is the coordinator; it also holds one node with
# all the rows.  Three clusters in all, on this machine.
# Sourced-in environment: PGHOST, PGPORT (the running cluster), PG_CONFIG.
#
#   BENCH_SHARD_N        rows [100000]      BENCH_SHARD_DIM   dimensions [128]
#   BENCH_SHARD_QUERIES  queries per setup, about [400]
#   BENCH_SHARD_ROUNDS   rounds that share them out [4]
#
# The coordinator has five pairs of servers for the same two shards, one per
# combination of use_remote_estimate and async_capable and one with async_capable and
# parallel_commit, each with its own partitioned table, so that every setup runs in
# the same pgbench session, interleaved at random
# (pgbench -M prepared, one -f script per setup, one client).  The shards' direct
# queries run between those sessions, in the same rounds.  Each setup is measured for
# a constant LIMIT and for LIMIT $n (a parameter of the prepared statement).  Every
# coordinator session runs twice per round: with omendb's shard scan (the default)
# and without it (omenhnsw.enable_shard_scan off: postgres_fdw's cursors).
#
# Prints, per setup, mean and median latency; then, for each sharded setup, its
# latency (c) against the slowest shard's direct query (a) plus one round trip (b):
# the coordinator's query of a one-row foreign table on a shard, through a server of
# the same options.  The issue's target is (c) / ((a) + (b)) <= 1.3.  (b2), the query
# of one-row tables on both shards, is what postgres_fdw's protocol costs for two
# shards without any search: c / (a + b2) is the sharded query against that.  (r), a
# bare round trip (SELECT 1 on the coordinator): c / (a + r) is the issue's target
# with a round trip taken as that.  Then the rows
# each shard sent per query (counted on the shards by pg_stat_statements), the plan
# of each setup's prepared statement, recall@10 against the exact answer, and where
# the coordinator's time goes.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=test/lib.sh
. test/lib.sh

n=${BENCH_SHARD_N:-100000}
dim=${BENCH_SHARD_DIM:-128}
nq=100
per=${BENCH_SHARD_QUERIES:-400}
rounds=${BENCH_SHARD_ROUNDS:-4}
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
		omen_cluster_start "shared_buffers = 256MB" "jit = off" \
			"shared_preload_libraries = 'pg_stat_statements'" >/dev/null
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

# load S DB TABLE LO HI: on shard S, database DB with a table TABLE of ids LO..HI,
# its index and a one-row table "one"
load() {
	on "$1" omen_psql -qc "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2"
	on "$1" omen_psql -d "$2" -q <<-EOF
		CREATE EXTENSION omendb;
		$gen
		CREATE TABLE $3 (id bigint PRIMARY KEY, v vector($dim));
		INSERT INTO $3 SELECT i, gen_vec(i) FROM generate_series($4, $5) i;
		CREATE INDEX ON $3 USING omenhnsw (v vector_l2_ops);
		VACUUM ANALYZE $3;
		CREATE TABLE one AS SELECT 1 AS x;
	EOF
}

echo "-- sharded: $n x $dim rows, a coordinator (and one node) and two shard clusters"
load 1 shard t 1 "$half"
load 2 shard t $((half + 1)) "$n"
load 0 shard_coord t_single 1 "$n"
on 1 omen_psql -d shard -qc "CREATE EXTENSION pg_stat_statements"
on 2 omen_psql -d shard -qc "CREATE EXTENSION pg_stat_statements"

# The setups: server options per suffix.
declare -A setup_options=(
	[p]=""
	[a]=", async_capable 'true'"
	[e]=", use_remote_estimate 'true'"
	[ae]=", async_capable 'true', use_remote_estimate 'true'"
	[ac]=", async_capable 'true', parallel_commit 'true'"
)
declare -A setup_name=(
	[p]="sharded (Merge Append)"
	[a]="sharded, async_capable"
	[e]="sharded, use_remote_estimate"
	[ae]="sharded, async, remote estimate"
	[ac]="sharded, async, parallel_commit"
)
setups="p a e ae ac"
{
	echo "CREATE EXTENSION postgres_fdw;"
	for x in $setups; do
		for s in 1 2; do
			echo "CREATE SERVER s${s}_$x FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '${shard_host[s]}',
			  port '${shard_port[s]}', dbname 'shard', extensions 'omendb'${setup_options[$x]});
			CREATE USER MAPPING FOR CURRENT_USER SERVER s${s}_$x;"
		done
		echo "CREATE TABLE t_$x (id bigint, v vector($dim)) PARTITION BY RANGE (id);
		CREATE FOREIGN TABLE t_${x}_1 PARTITION OF t_$x FOR VALUES FROM (1) TO ($((half + 1)))
		  SERVER s1_$x OPTIONS (table_name 't');
		CREATE FOREIGN TABLE t_${x}_2 PARTITION OF t_$x FOR VALUES FROM ($((half + 1))) TO ($((n + 1)))
		  SERVER s2_$x OPTIONS (table_name 't');
		CREATE FOREIGN TABLE one_$x (x int) SERVER s1_$x OPTIONS (table_name 'one');
		CREATE FOREIGN TABLE one2_$x (x int) SERVER s2_$x OPTIONS (table_name 'one');
		ANALYZE t_$x;
		ANALYZE one_$x;
		ANALYZE one2_$x;"
	done
} | on 0 omen_psql -d shard_coord -q

# knn TABLE LIMIT: a k-NN query script; LIMIT 10 or :k (a parameter, $2 when prepared)
knn() {
	printf '\\set qid random(1, %d)\n\\set k 10\nSELECT id FROM %s ORDER BY v <-> (SELECT v FROM queries WHERE qid = :qid) LIMIT %s;\n' \
		"$nq" "$1" "$2"
}
# The coordinator's scripts, in the order of pgbench's script numbers.
coord_scripts=(single sel1)
knn t_single 10 >"$work/single.sql"
echo "SELECT 1;" >"$work/sel1.sql"
for x in $setups; do
	knn "t_$x" 10 >"$work/c_$x.sql"
	knn "t_$x" :k >"$work/k_$x.sql"
	echo "SELECT x FROM one_$x;" >"$work/one_$x.sql"
	echo "SELECT x FROM one_$x UNION ALL SELECT x FROM one2_$x;" >"$work/two_$x.sql"
	coord_scripts+=("c_$x" "k_$x" "one_$x" "two_$x")
done
shard_scripts=(c k)
knn t 10 >"$work/c.sql"
knn t :k >"$work/k.sql"
chmod 644 "$work"/*.sql

# pgbench_round S DB PREFIX SCRIPT...: one pgbench session of
# per / rounds transactions per script, chosen at random, logged
pgbench_round() {
	local s=$1 db=$2 prefix=$3 args=() f
	shift 3
	for f in "$@"; do
		args+=(-f "$work/$f.sql")
	done
	(cd "$work" && on "$s" "$bindir/pgbench" -n -M prepared -l --log-prefix="$prefix" \
		-t $((per * $# / rounds)) "${args[@]}" "$db" >/dev/null)
}
for ((r = 1; r <= rounds; r++)); do
	pgbench_round 0 shard_coord "coord.$r" "${coord_scripts[@]}"
	PGOPTIONS="-c omenhnsw.enable_shard_scan=off" \
		pgbench_round 0 shard_coord "cursors.$r" "${coord_scripts[@]}"
	pgbench_round 1 shard "shard1.$r" "${shard_scripts[@]}"
	pgbench_round 2 shard "shard2.$r" "${shard_scripts[@]}"
done

# The table and the ratios, from pgbench's per-transaction logs
# (client transaction time_us script_no ...).
labels=()
for x in $setups; do
	labels+=("$x=${setup_name[$x]}")
done
/usr/bin/python3 - "$work" "${coord_scripts[*]}" "${shard_scripts[*]}" "${labels[@]}" <<'EOF'
import glob, os, statistics, sys

work, coord, shard = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
setups = dict(arg.split("=", 1) for arg in sys.argv[4:])
lat = {}
for group, names in (("coord", coord), ("cursors", coord), ("shard1", shard), ("shard2", shard)):
    for path in glob.glob(os.path.join(work, group + ".*")):
        for line in open(path):
            f = line.split()
            lat.setdefault((group, names[int(f[3])]), []).append(int(f[2]) / 1000.0)

def stat(group, name):
    v = lat[(group, name)]
    return statistics.mean(v), statistics.median(v), len(v)

print("%-48s %9s %9s %6s" % ("setup", "mean ms", "median", "n"))
def row(label, group, name):
    m, md, c = stat(group, name)
    print("%-48s %9.3f %9.3f %6d" % (label, m, md, c))
row("one node (all rows), LIMIT 10", "coord", "single")
row("round trip: SELECT 1 on the coordinator", "coord", "sel1")
for s in ("shard1", "shard2"):
    row("%s direct, LIMIT 10" % s, s, "c")
    row("%s direct, LIMIT $n" % s, s, "k")
for x, label in setups.items():
    servers = label.replace("sharded", "servers").replace(" (Merge Append)", "")
    row("round trip: one-row foreign table, %s" % servers, "coord", "one_" + x)
    row("both shards: two one-row foreign tables", "coord", "two_" + x)
    row("%s, LIMIT 10" % label, "coord", "c_" + x)
    row("%s, LIMIT $n" % label, "coord", "k_" + x)
    row("%s, no shard scan, LIMIT 10" % label, "cursors", "c_" + x)
    row("%s, no shard scan, LIMIT $n" % label, "cursors", "k_" + x)

print()
print("(c) / ((a) slowest shard's direct query + (b) round trip), by mean and by median;")
print("(b2): both shards' one-row tables, the protocol's cost without a search; mean ratio;")
print("(r): SELECT 1, one bare round trip: c / (a + r) by mean and by median")
print("%-44s %7s %7s %7s %7s %7s %6s %6s %7s %6s %6s" % ("setup", "(a)", "(b)", "(b2)", "(r)", "(c)",
      "mean", "median", "c/(a+b2)", "c/(a+r)", "median"))
for group, variant in (("coord", ""), ("cursors", ", no shard scan")):
    for x, label in setups.items():
        for kind, text in (("c", "LIMIT 10"), ("k", "LIMIT $n")):
            a = [max(stat("shard1", kind)[i], stat("shard2", kind)[i]) for i in (0, 1)]
            b = stat(group, "one_" + x)
            c = stat(group, kind + "_" + x)
            b2 = stat(group, "two_" + x)
            r = stat(group, "sel1")
            print("%-44s %7.3f %7.3f %7.3f %7.3f %7.3f %5.2fx %5.2fx %6.2fx %5.2fx %5.2fx" % (
                "%s%s, %s" % (label, variant, text), a[0], b[0], b2[0], r[0], c[0],
                c[0] / (a[0] + b[0]), c[1] / (a[1] + b[1]), c[0] / (a[0] + b2[0]),
                c[0] / (a[0] + r[0]), c[1] / (a[1] + r[1])))
EOF

# Rows each shard sent per query: rows of FETCHes and of plain SELECTs of the
# table (the shard scan's) per query, from the shards' pg_stat_statements, over
# a short run of $nsent queries of each setup alone.
nsent=50
echo
echo "rows sent per query per shard (k = 10), and remote k-NN queries with a LIMIT"
for x in $setups; do
	for kind in c k; do
		for s in 1 2; do
			on "$s" omen_psql -d shard -qAtc "SELECT pg_stat_statements_reset()" >/dev/null
		done
		(cd "$work" && on 0 "$bindir/pgbench" -n -M prepared -t "$nsent" -f "$work/${kind}_$x.sql" shard_coord >/dev/null)
		# shellcheck disable=SC2016  # $n is the text shown
		line=$(printf '%-44s' "${setup_name[$x]}, $([ $kind = c ] && echo 'LIMIT 10' || echo 'LIMIT $n')")
		for s in 1 2; do
			line+=$(on "$s" omen_psql -d shard -At <<-EOF
				SELECT format('  shard: %s rows/query, %s of %s with LIMIT',
				  round(coalesce(sum(rows) FILTER (WHERE query LIKE 'FETCH %' OR knn), 0)::numeric / $nsent, 2),
				  coalesce(sum(calls) FILTER (WHERE knn AND query LIKE '% LIMIT %'), 0),
				  coalesce(sum(calls) FILTER (WHERE knn), 0))
				FROM pg_stat_statements,
				  LATERAL (SELECT query LIKE 'DECLARE %' OR query LIKE 'SELECT %public.t %' AS knn) k
			EOF
			)
		done
		echo "$line"
	done
done

# The plan each setup's prepared statement settles on (after ten executions).
echo
echo "plans of the prepared statements after 10 executions (generic/custom plans made)"
for x in $setups; do
	# shellcheck disable=SC2016  # the statement's parameter $2
	for kind in 10 '$2'; do
		on 0 omen_psql -d shard_coord -At <<-EOF |
			PREPARE q(int, bigint) AS SELECT id FROM t_$x
			  ORDER BY v <-> (SELECT v FROM queries WHERE qid = \$1) LIMIT $kind;
			\o /dev/null
			EXECUTE q(1, 10); EXECUTE q(2, 10); EXECUTE q(3, 10); EXECUTE q(4, 10); EXECUTE q(5, 10);
			EXECUTE q(6, 10); EXECUTE q(7, 10); EXECUTE q(8, 10); EXECUTE q(9, 10); EXECUTE q(10, 10);
			\o
			SELECT format('%-44s %s/%s:', '${setup_name[$x]}, LIMIT ${kind/\$2/\$n}', generic_plans, custom_plans)
			  FROM pg_prepared_statements;
			EXPLAIN (COSTS OFF) EXECUTE q(1, 10);
		EOF
			grep -E '^ *(-> *)?(generic|sharded|Limit|Merge Append|Sort|Append|Async Foreign Scan|Foreign Scan|Custom Scan)' |
			grep -v Key | sed 's/^[ ->]*//' | paste -sd ' '
	done
done

# recall S DB TABLE: recall@10 over the queries, against the exact answers
recall() {
	on "$1" omen_psql -d "$2" -At <<-EOF
		CREATE TEMP TABLE got AS SELECT qid, (SELECT array_agg(id) FROM
		  (SELECT id FROM $3 ORDER BY v <-> q.v LIMIT 10) s) AS ids FROM queries q;
		SELECT round(avg((SELECT count(*) FROM unnest(g.ids) x WHERE x IN
		  (SELECT id FROM exact e WHERE e.qid = g.qid)) / 10.0), 4)
		FROM got g;
	EOF
}
on 0 omen_psql -d shard_coord -q <<EOF
SET enable_indexscan = off;
CREATE TABLE exact AS SELECT q.qid, s.id FROM queries q, LATERAL
  (SELECT id FROM t_single ORDER BY v <-> q.v LIMIT 10) s;
EOF
echo
echo "recall@10: one node $(recall 0 shard_coord t_single), sharded $(recall 0 shard_coord t_p)," \
	"sharded async $(recall 0 shard_coord t_a)"

# Where the coordinator's time goes: planning and execution times of
# EXPLAIN ANALYZE (simple protocol: planned each time), averaged over the queries.
explain_times() {
	on 0 omen_psql -d shard_coord -At <<-EOF
		CREATE FUNCTION pg_temp.times(q int) RETURNS TABLE (planning float8, execution float8)
		LANGUAGE plpgsql AS \$\$
		DECLARE line text; p float8; e float8;
		BEGIN
		  FOR line IN EXECUTE format('EXPLAIN (ANALYZE, TIMING OFF) SELECT id FROM $1 ORDER BY v <-> (SELECT v FROM queries WHERE qid = %s) LIMIT 10', q) LOOP
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
echo
for x in $setups; do
	printf '%-44s %s\n' "coordinator, ${setup_name[$x]}, unprepared:" "$(explain_times "t_$x")"
done

on 0 omen_psql -qc "DROP DATABASE shard_coord"
