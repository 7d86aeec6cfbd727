#!/bin/bash
# make bench: omendb (and pgvector, when its extension is installed in this PostgreSQL)
# on Fashion-MNIST and synthetic clustered sets of 128, 1,536 and 3,072 dimensions, same
# settings for every engine; on Fashion-MNIST also filtered queries (a column keeping 50%,
# 10%, 1% of the rows) per iterative-scan mode, and recall of an index grown by single-row
# inserts beside REINDEX's.  Where an engine cannot index a set's vectors its index and
# queries use halfvec (ENGINE_VECTOR_MAX_DIMS in common.sh), or it is reported n/a on that
# set.  A measurement, not a test: figures on a shared machine are noisy.
#
# Environment (defaults in brackets):
#   BENCH_ENGINES    engines to run [omendb,pgvector]; an engine whose extension is missing is skipped
#   BENCH_DATASETS   [fashion,fashion_halfvec,synthetic,synthetic1536,synthetic3072]; every
#                    engine indexes fashion_halfvec, the first BENCH_HALFVEC_N images of
#                    fashion, as halfvec (embedding::halfvec(784), halfvec_l2_ops); omendb's
#                    vector index on the same table is queried in the same turns beside
#                    them (column omendb_vector), then dropped before the inserts
#   BENCH_HALFVEC_N  [60000]
#   BENCH_SYNTH_N    base rows of the 128-d synthetic set [200000]
#   BENCH_SYNTH1536_N, BENCH_SYNTH3072_N   base rows of the embedding-like 1,536-d and
#                    3,072-d sets [100000, 30000]; every synthetic set has 1,000 queries
#   BENCH_QUERIES    queries per ef point [1000]
#   BENCH_EFS        ef_search values [10,20,40,80,120,200,400]
#   BENCH_CONCURRENT_EF  ef of the 2-client run and of the pgbench runs [40]
#   BENCH_PGBENCH_SECONDS  pgbench time per engine and client count, in 2 turns (C client) [10]
#   BENCH_PGBENCH_WARMUP   seconds each pgbench turn runs before it is measured, while its new
#                    backends warm up [8]
#   BENCH_PGBENCH_CLIENTS  pgbench client counts [1,2,32]; each run also samples how many
#                    running clients wait on the lock manager
#   BENCH_PGBENCH_INSERT_CLIENTS  client counts of the pgbench single-row inserts, engines
#                    taking turns, BENCH_PGBENCH_SECONDS each in 2 turns [1,2,4,8]; empty skips them
#   BENCH_SLICES     turns the engines take at each query point [4]
#   BENCH_INSERTS    single-row inserts into the indexed table [2000]
#   BENCH_GROWN      data sets that also get an index grown by inserts: built over all but the
#                    last BENCH_GROWN_INSERTS base rows, which are then inserted one at a time,
#                    queried at each ef, then REINDEXed and queried again [fashion]; empty skips it
#   BENCH_GROWN_INSERTS  [10000]
#   BENCH_FILTERED   data sets that also get filtered queries [fashion]; empty skips them
#   BENCH_VACUUMED   data sets whose rows are then deleted but the base rows of odd ids, VACUUMed
#                    (timed) and queried at each ef against the rows left [fashion]; empty skips it
#   BENCH_FILTER_QUERIES   queries per filtered point [200]
#   BENCH_FILTER_PERCENTS  filter selectivities, % of rows kept [50,10,1]
#   BENCH_M, BENCH_EFC, BENCH_MWM, BENCH_WORKERS   index and build settings [16, 64, 1GB, 1]
#   BENCH_SHARDED    also the sharded row (test/bench/sharded.sh: two postgres_fdw partitions
#                    against one node; BENCH_SHARD_N rows [100000] of 128 dims) [1]
#   BENCH_OUT        directory for the results [/var/tmp/omendb-bench]
#   OMEN_DATA_DIR    cache of data sets and ground truth [/var/tmp/omendb-data]
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. test/bench/common.sh

BENCH_ENGINES=${BENCH_ENGINES:-omendb,pgvector}
BENCH_DATASETS=${BENCH_DATASETS:-fashion,fashion_halfvec,synthetic,synthetic1536,synthetic3072}
BENCH_HALFVEC_N=${BENCH_HALFVEC_N:-60000}
BENCH_SYNTH_N=${BENCH_SYNTH_N:-200000}
BENCH_SYNTH1536_N=${BENCH_SYNTH1536_N:-100000}
BENCH_SYNTH3072_N=${BENCH_SYNTH3072_N:-30000}
BENCH_QUERIES=${BENCH_QUERIES:-1000}
BENCH_EFS=${BENCH_EFS:-10,20,40,80,120,200,400}
BENCH_CONCURRENT_EF=${BENCH_CONCURRENT_EF:-40}
BENCH_PGBENCH_SECONDS=${BENCH_PGBENCH_SECONDS:-10}
BENCH_PGBENCH_WARMUP=${BENCH_PGBENCH_WARMUP:-8}
BENCH_PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-1,2,32}
BENCH_PGBENCH_INSERT_CLIENTS=${BENCH_PGBENCH_INSERT_CLIENTS-1,2,4,8}
BENCH_VACUUMED=${BENCH_VACUUMED-fashion}
BENCH_SLICES=${BENCH_SLICES:-4}
BENCH_INSERTS=${BENCH_INSERTS:-2000}
BENCH_FILTERED=${BENCH_FILTERED-fashion}
BENCH_GROWN=${BENCH_GROWN-fashion}
BENCH_GROWN_INSERTS=${BENCH_GROWN_INSERTS:-10000}
BENCH_FILTER_QUERIES=${BENCH_FILTER_QUERIES:-200}
BENCH_FILTER_PERCENTS=${BENCH_FILTER_PERCENTS:-50,10,1}
BENCH_OUT=${BENCH_OUT:-/var/tmp/omendb-bench}
BENCH_PY+=(--synth-rows "synthetic=$BENCH_SYNTH_N" --synth-rows "synthetic1536=$BENCH_SYNTH1536_N"
	--synth-rows "synthetic3072=$BENCH_SYNTH3072_N" --synth-rows "fashion_halfvec=$BENCH_HALFVEC_N"
	--timeout "$BENCH_STATEMENT_TIMEOUT")

started=$EPOCHREALTIME
mkdir -p "$BENCH_OUT"
stamp=$(date +%Y%m%d-%H%M%S)
results=$BENCH_OUT/bench-$stamp.jsonl
: > "$results"

echo "== omendb benchmark: engines $BENCH_ENGINES, data sets $BENCH_DATASETS =="
echo "-- installing what is missing, building omendb"
bench_need_packages
omen_build_install >/dev/null

echo "-- data sets and exact ground truth"
for ds in ${BENCH_DATASETS//,/ }; do
	"${BENCH_PY[@]}" prepare "$ds" --queries "$BENCH_QUERIES"
done

echo "-- starting a throwaway PostgreSQL cluster"
bench_cluster_start "synchronous_commit = off"
omen_psql -Atc "SELECT version()"

engines=()
for e in ${BENCH_ENGINES//,/ }; do
	if [ -z "${ENGINE_EXT[$e]:-}" ]; then
		echo "ERROR: unknown engine $e (known: ${!ENGINE_EXT[*]})" >&2
		exit 1
	elif engine_available "$e"; then
		engines+=("$e")
	else
		echo "   $e: extension ${ENGINE_EXT[$e]} is not installed in this PostgreSQL: skipped"
	fi
done

# filtered_on DATASET: does BENCH_FILTERED name it?
filtered_on() {
	[[ ,$BENCH_FILTERED, == *,$1,* ]]
}

# grown_on DATASET: does BENCH_GROWN name it?
grown_on() {
	[[ ,$BENCH_GROWN, == *,$1,* ]]
}

# prepare_one ENGINE DATASET NAME ROWS DIM: its database, the data loaded and the index
# built.  Each step returns non-zero on failure (BENCH_NA_STATUS where the engine cannot
# index the set) so the caller can go on without it.
prepare_one() {
	local e=$1 ds=$2 name=$3 n=$4 dim=$5 db=${ENGINE_DB[$1]}
	echo
	echo "-- $e on $name ($n x $dim)"
	engine_create "$e" "$dim" || return
	if filtered_on "$ds"; then
		# 0..99 from a hash of the id: "bucket < p" keeps p% of the rows, whatever their vectors
		omen_psql -d "$db" -qc "ALTER TABLE items ADD COLUMN bucket integer
			GENERATED ALWAYS AS (mod(hashint4(id)::bigint + 2147483648, 100)) STORED" || return
	fi
	engine_load "$e" "$ds" "$name" "$n" "$results" || return
	engine_build "$e" "$name" "$n" "$results" || return
}

# turns_of DIM ENGINE...: sets the caller's arrays on (the --engine option of omenbench.py)
# and where (its --db, --guc and --cast options) for a measurement the engines take turns
# at, on vectors of DIM dimensions.
turns_of() {
	local dim=$1 e dbs=() gucs=() casts=()
	shift
	for e in "$@"; do
		dbs+=("${ENGINE_DB[$e]}")
		gucs+=("${ENGINE_GUC[$e]}")
		casts+=("$(engine_cast "$e" "$dim")")
	done
	on=(--engine "$(IFS=,; echo "$*")")
	where=(--db "$(IFS=,; echo "${dbs[*]}")" --guc "$(IFS=,; echo "${gucs[*]}")"
		--cast "$(IFS=,; echo "${casts[*]}")")
}

# query_all DATASET DIM ENGINE...: the unfiltered queries, every point measured in turns
# by all the engines (slices of the queries, pgbench rounds), so that a shared machine's
# changing load does not favour the engine measured at a quieter moment.
query_all() {
	local ds=$1 dim=$2
	local -a on where
	shift 2
	turns_of "$dim" "$@"
	echo
	echo "-- queries on $ds, engines taking turns: $*"
	echo "  $BENCH_QUERIES queries per point in $BENCH_SLICES turns, recall@10 against exact results:"
	"${BENCH_PY[@]}" --out "$results" "${on[@]}" query "$ds" "${where[@]}" \
		--queries "$BENCH_QUERIES" --efs "$BENCH_EFS" --floor --slices "$BENCH_SLICES" || return
	"${BENCH_PY[@]}" --out "$results" "${on[@]}" query "$ds" "${where[@]}" \
		--queries "$BENCH_QUERIES" --efs "$BENCH_CONCURRENT_EF" --clients 2 \
		--slices "$BENCH_SLICES" || return
	"${BENCH_PY[@]}" --out "$results" "${on[@]}" pgbench "$ds" "${where[@]}" \
		--queries "$BENCH_QUERIES" --ef "$BENCH_CONCURRENT_EF" --rounds 2 \
		--clients "$BENCH_PGBENCH_CLIENTS" \
		--pgbench "$(omen_pg_bindir)/pgbench" --seconds "$BENCH_PGBENCH_SECONDS" \
		--warmup-seconds "$BENCH_PGBENCH_WARMUP" || return
}

# finish_one ENGINE DATASET DIM: filtered queries, then single-row inserts (they change
# the index).
finish_one() {
	local e=$1 ds=$2 db=${ENGINE_DB[$1]}
	echo
	echo "-- $e on $ds: filtered queries and inserts"
	if filtered_on "$ds"; then
		"${BENCH_PY[@]}" --out "$results" --engine "$e" filtered "$ds" --db "$db" \
			--guc "${ENGINE_GUC[$e]}" --cast "$(engine_cast "$e" "$3")" \
			--iterative-guc "${ENGINE_ITERATIVE_GUC[$e]}" \
			--max-tuples-guc "${ENGINE_MAX_TUPLES_GUC[$e]}" \
			--queries "$BENCH_FILTER_QUERIES" --percents "$BENCH_FILTER_PERCENTS" || return
	fi
	"${BENCH_PY[@]}" --out "$results" --engine "$e" insert "$ds" --db "$db" --n "$BENCH_INSERTS" || return
}

# inserts_all DATASET DIM ENGINE...: single-row inserts by pgbench at each client count of
# BENCH_PGBENCH_INSERT_CLIENTS, the engines taking turns (they change the indexes).
inserts_all() {
	local ds=$1 dim=$2
	local -a on where
	shift 2
	turns_of "$dim" "$@"
	echo
	echo "-- pgbench single-row inserts on $ds, engines taking turns: $*"
	"${BENCH_PY[@]}" --out "$results" "${on[@]}" pgbench_insert "$ds" "${where[@]:0:2}" \
		--clients "$BENCH_PGBENCH_INSERT_CLIENTS" --seconds "$BENCH_PGBENCH_SECONDS" \
		--warmup-seconds "$BENCH_PGBENCH_WARMUP" \
		--pgbench "$(omen_pg_bindir)/pgbench"
}

# vacuum_all DATASET DIM ENGINE...: each engine's table loses every row but the base rows
# of odd ids, then a timed VACUUM; then the queries at every ef in turns, against the rows
# left.
vacuum_all() {
	local ds=$1 dim=$2 e
	local -a on where
	shift 2
	turns_of "$dim" "$@"
	for e in "$@"; do
		echo
		echo "-- $e on $ds: half the rows deleted, VACUUM"
		"${BENCH_PY[@]}" --out "$results" --engine "$e" delete_half "$ds" --db "${ENGINE_DB[$e]}" ||
			return
	done
	echo "-- queries after VACUUM, engines taking turns: $*"
	"${BENCH_PY[@]}" --out "$results" "${on[@]}" query "$ds" "${where[@]}" --kind deleted_query \
		--kept odd --queries "$BENCH_QUERIES" --efs "$BENCH_EFS" --slices "$BENCH_SLICES"
}

# grow_all DATASET NAME ROWS DIM ENGINE...: each engine's index built over the first ROWS -
# BENCH_GROWN_INSERTS rows, the rest inserted one row at a time (timed); the engines' queries
# at every ef in turns, as in query_all; then REINDEX and the same queries, for reference.
grow_all() {
	local ds=$1 name=$2 bulk=$(($3 - BENCH_GROWN_INSERTS)) dim=$4 e db
	local -a on where
	shift 4
	if [ "$bulk" -le 0 ]; then
		echo "ERROR: BENCH_GROWN_INSERTS ($BENCH_GROWN_INSERTS) leaves no rows of $name to build on" >&2
		return 1
	fi
	turns_of "$dim" "$@"
	for e in "$@"; do
		db=${ENGINE_DB[$e]}
		echo
		echo "-- $e on $name: index over the first $bulk rows, the last $BENCH_GROWN_INSERTS inserted one at a time"
		omen_psql -d "$db" -qc "DROP INDEX items_embedding_idx" -c "TRUNCATE items" || return
		# the partial load and build are not measurements: their records are dropped
		engine_load "$e" "$ds" "$name" "$bulk" /dev/null || return
		engine_build "$e" "$name" "$bulk" /dev/null || return
		"${BENCH_PY[@]}" --out "$results" --engine "$e" insert "$ds" --db "$db" \
			--base-from "$bulk" --kind grown_insert || return
	done
	echo
	echo "-- queries on the grown indexes of $name, engines taking turns: $*"
	"${BENCH_PY[@]}" --out "$results" "${on[@]}" query "$ds" "${where[@]}" --kind grown_query \
		--queries "$BENCH_QUERIES" --efs "$BENCH_EFS" --slices "$BENCH_SLICES" || return
	for e in "$@"; do
		echo "-- $e: REINDEX INDEX items_embedding_idx"
		omen_psql -d "${ENGINE_DB[$e]}" -qc "REINDEX INDEX items_embedding_idx" || return
	done
	echo "-- the same queries after REINDEX"
	"${BENCH_PY[@]}" --out "$results" "${on[@]}" query "$ds" "${where[@]}" --kind reindexed_query \
		--queries "$BENCH_QUERIES" --efs "$BENCH_EFS" --slices "$BENCH_SLICES" || return
}

# fail ENGINE NAME: records that an engine's run on a data set failed
fail() {
	failed+=("$1/$2")
	printf '{"dataset": "%s", "engine": "%s", "kind": "run", "error": "failed, see the log above"}\n' \
		"$2" "$1" >> "$results"
}

failed=()
for ds in ${BENCH_DATASETS//,/ }; do
	read -r name n dim < <("${BENCH_PY[@]}" info "$ds")
	# a *_halfvec set: every engine's index and queries on the column cast to halfvec
	BENCH_INDEX_TYPE=
	[[ $ds != *_halfvec ]] || BENCH_INDEX_TYPE=halfvec
	ready=()
	for e in "${engines[@]}"; do
		if prepare_one "$e" "$ds" "$name" "$n" "$dim"; then
			ready+=("$e")
		elif [ $? -eq "$BENCH_NA_STATUS" ]; then
			echo "   $e: n/a on $name, going on without it"
		else
			fail "$e" "$name"
		fi
	done
	measured=("${ready[@]}")
	if [[ $ds == *_halfvec && " ${ready[*]} " == *" omendb "* ]]; then
		echo
		echo "-- omendb_vector: omendb's index on the vector column, beside its halfvec index"
		if engine_build omendb_vector "$name" "$n" "$results"; then
			measured+=(omendb_vector)
		else
			fail omendb_vector "$name"
		fi
	fi
	if [ ${#ready[@]} -gt 0 ] && ! query_all "$ds" "$dim" "${measured[@]}"; then
		for e in "${ready[@]}"; do
			fail "$e" "$name"
		done
		ready=()
	fi
	# inserts and what follows measure the halfvec indexes alone
	if [[ " ${measured[*]} " == *" omendb_vector "* ]]; then
		omen_psql -d "${ENGINE_DB[omendb_vector]}" -qc "DROP INDEX ${ENGINE_INDEX[omendb_vector]}"
	fi
	for e in "${ready[@]}"; do
		finish_one "$e" "$ds" "$dim" || fail "$e" "$name"
	done
	if [ -n "$BENCH_PGBENCH_INSERT_CLIENTS" ] && [ ${#ready[@]} -gt 0 ] &&
		! inserts_all "$ds" "$dim" "${ready[@]}"; then
		for e in "${ready[@]}"; do
			fail "$e" "$name"
		done
	fi
	if [[ ,$BENCH_VACUUMED, == *,$ds,* ]] && [ ${#ready[@]} -gt 0 ] &&
		! vacuum_all "$ds" "$dim" "${ready[@]}"; then
		for e in "${ready[@]}"; do
			fail "$e" "$name"
		done
	fi
	if grown_on "$ds" && [ ${#ready[@]} -gt 0 ] && ! grow_all "$ds" "$name" "$n" "$dim" "${ready[@]}"; then
		for e in "${ready[@]}"; do
			fail "$e" "$name"
		done
	fi
	for e in "${engines[@]}"; do
		omen_psql -qc "DROP DATABASE IF EXISTS ${ENGINE_DB[$e]}"
	done
done

if [ "${BENCH_SHARDED:-1}" = 1 ] && engine_available omendb; then
	echo "-- sharded across servers (omendb)"
	bash test/bench/sharded.sh || failed+=("omendb/sharded")
fi

settings=$(printf '{"m": %d, "ef_construction": %d, "maintenance_work_mem": "%s", "max_parallel_maintenance_workers": %d, "queries": %d, "inserts": %d, "synthetic_n": %d, "synthetic1536_n": %d, "synthetic3072_n": %d, "halfvec_n": %d, "filtered": "%s", "filter_queries": %d, "filter_percents": "%s", "grown": "%s", "grown_inserts": %d, "pgbench_seconds": %d, "pgbench_warmup": %d, "shared_buffers": "1GB", "synchronous_commit": "off", "cores": %d, "postgres": "%s"}' \
	"$BENCH_M" "$BENCH_EFC" "$BENCH_MWM" "$BENCH_WORKERS" "$BENCH_QUERIES" "$BENCH_INSERTS" \
	"$BENCH_SYNTH_N" "$BENCH_SYNTH1536_N" "$BENCH_SYNTH3072_N" "$BENCH_HALFVEC_N" \
	"$BENCH_FILTERED" "$BENCH_FILTER_QUERIES" "$BENCH_FILTER_PERCENTS" \
	"$BENCH_GROWN" "$BENCH_GROWN_INSERTS" "$BENCH_PGBENCH_SECONDS" "$BENCH_PGBENCH_WARMUP" \
	"$(nproc)" "$(omen_psql -Atc 'SHOW server_version')")
"${BENCH_PY[@]}" report "$results" --engines "$BENCH_ENGINES,omendb_vector" \
	--json "$BENCH_OUT/bench-$stamp.json" --settings "$settings"
echo "raw results (JSON lines): $results"
echo "total time: $(bench_seconds "$started") s"
if [ ${#failed[@]} -gt 0 ]; then
	echo "FAILED: ${failed[*]}" >&2
	exit 1
fi
