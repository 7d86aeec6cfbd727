# shellcheck shell=bash
# Shared by test/demo.sh and test/bench.sh; sourced after test/lib.sh, from the repo root.
# Everything engine-specific is in the table below: the scripts loop over engine names.

BENCH_PY=(/usr/bin/python3 test/bench/omenbench.py)

# engine -> extension, index access method, ef_search GUC, database in the shared cluster
# (one database per engine: both extensions define the type `vector`)
declare -A ENGINE_EXT=([omendb]=omendb [pgvector]=vector)
declare -A ENGINE_AM=([omendb]=omenhnsw [pgvector]=hnsw [omendb_vector]=omenhnsw)
# shellcheck disable=SC2034  # used by the scripts that source this file
declare -A ENGINE_GUC=([omendb]=omenhnsw.ef_search [pgvector]=hnsw.ef_search
	[omendb_vector]=omenhnsw.ef_search)
# shellcheck disable=SC2034
declare -A ENGINE_ITERATIVE_GUC=([omendb]=omenhnsw.iterative_scan [pgvector]=hnsw.iterative_scan)
# shellcheck disable=SC2034
declare -A ENGINE_MAX_TUPLES_GUC=([omendb]=omenhnsw.max_scan_tuples [pgvector]=hnsw.max_scan_tuples)
declare -A ENGINE_DB=([omendb]=omen [pgvector]=pgv [omendb_vector]=omen)
# omendb_vector is no engine of its own (not in ENGINE_EXT): on a *_halfvec set,
# omendb's index on the vector column itself, built in omendb's database beside its
# halfvec index and queried in the same turns, so that the two types' indexes are
# compared on one table at the same moments (test/bench.sh)
declare -A ENGINE_INDEX=([omendb_vector]=items_vector_idx)
# Dimensions an engine indexes as vector: above them its index and queries cast
# the column to halfvec, an expression index over the same table (pgvector's hnsw
# takes vector up to 2,000 dimensions, halfvec up to 4,000).  An engine not listed
# indexes the column itself at any dimension, or reports n/a.
declare -A ENGINE_VECTOR_MAX_DIMS=([pgvector]=2000)

# Exit status of omenbench.py's build (NA_STATUS) when the engine refused the index
# with a limit or an unsupported feature: n/a on that data set, not a failure.
# shellcheck disable=SC2034
BENCH_NA_STATUS=78

# Index and build settings, identical for every engine.
BENCH_M=${BENCH_M:-16}
BENCH_EFC=${BENCH_EFC:-64}
BENCH_MWM=${BENCH_MWM:-1GB}
# 1 worker + the leader = 2 processes, the size of this 2-core machine
BENCH_WORKERS=${BENCH_WORKERS:-1}
BENCH_BUILD_TIMEOUT=${BENCH_BUILD_TIMEOUT:-1800}
# per query or insert statement: a stuck scan fails the run instead of hanging it
BENCH_STATEMENT_TIMEOUT=${BENCH_STATEMENT_TIMEOUT:-120}

bench_need_packages() {
	# libopenblas0-pthread: the brute-force ground truth is ~20x faster than with reference BLAS
	omen_need_packages postgresql-15 postgresql-server-dev-15 build-essential \
		python3 python3-numpy python3-psycopg libopenblas0-pthread dataset-fashion-mnist
}

# postgresql.conf lines for the throwaway cluster.  min_parallel_table_scan_size = 0:
# 784-d vectors are TOASTed, so the heap itself is tiny and would never get a parallel build.
bench_cluster_start() {
	omen_cluster_start \
		"shared_buffers = '1GB'" \
		"maintenance_work_mem = '$BENCH_MWM'" \
		"max_parallel_maintenance_workers = $BENCH_WORKERS" \
		"min_parallel_table_scan_size = 0" \
		"max_wal_size = '8GB'" \
		"checkpoint_timeout = '30min'" \
		"$@"
}

# bench_seconds START: seconds elapsed since START (an $EPOCHREALTIME value)
bench_seconds() {
	awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}

# engine_available ENGINE: is its extension installed in this PostgreSQL?
engine_available() {
	[ "$(omen_psql -Atc "SELECT count(*) FROM pg_available_extensions WHERE name = '${ENGINE_EXT[$1]}'")" = 1 ]
}

# engine_create ENGINE DIM: fresh database with the extension and an empty items table
engine_create() {
	local db=${ENGINE_DB[$1]} am=${ENGINE_AM[$1]}
	omen_psql -qc "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" \
		-c "CREATE DATABASE $db" || return
	omen_psql -d "$db" -qc "CREATE EXTENSION ${ENGINE_EXT[$1]}" \
		-c "CREATE TABLE items (id integer, embedding vector($2))" || return
	if [ "$(omen_psql -d "$db" -Atc "SELECT count(*) FROM pg_am WHERE amname = '$am'")" != 1 ]; then
		echo "ERROR: extension ${ENGINE_EXT[$1]} $(omen_psql -d "$db" -Atc \
			"SELECT extversion FROM pg_extension WHERE extname = '${ENGINE_EXT[$1]}'") has no access method $am" >&2
		return 1
	fi
}

# engine_cast ENGINE DIM: the type ENGINE's index casts the column to, empty for none:
# BENCH_INDEX_TYPE (halfvec) for every engine but omendb_vector where the caller sets it
engine_cast() {
	local max=${ENGINE_VECTOR_MAX_DIMS[$1]:-}
	if [ "$1" = omendb_vector ]; then
		return 0
	elif [ -n "${BENCH_INDEX_TYPE:-}" ]; then
		echo "$BENCH_INDEX_TYPE($2)"
	elif [ -n "$max" ] && [ "$2" -gt "$max" ]; then
		echo "halfvec($2)"
	fi
}

# engine_load ENGINE DATASET NAME ROWS RESULTS: COPY the first ROWS base vectors, timed; then
# VACUUM ANALYZE
engine_load() {
	local db=${ENGINE_DB[$1]} t0=$EPOCHREALTIME secs
	"${BENCH_PY[@]}" copy "$2" --rows "$4" | omen_psql -d "$db" -qc "COPY items (id, embedding) FROM STDIN" || return
	secs=$(bench_seconds "$t0")
	printf '{"dataset": "%s", "engine": "%s", "kind": "load", "rows": %d, "seconds": %s}\n' \
		"$3" "$1" "$4" "$secs" >> "$5"
	echo "  loaded $4 rows in $secs s"
	omen_psql -d "$db" -qc "VACUUM ANALYZE items" -c "CHECKPOINT"
}

# engine_build ENGINE NAME ROWS RESULTS [build options]: CREATE INDEX with progress and
# its memory, then its size; returns BENCH_NA_STATUS if the engine cannot index the column
engine_build() {
	local e=$1 db=${ENGINE_DB[$1]} name=$2 rows=$3 out=$4 bytes dim cast key
	local idx=${ENGINE_INDEX[$1]:-items_embedding_idx}
	shift 4
	dim=$(omen_psql -d "$db" -Atc "SELECT atttypmod FROM pg_attribute
		WHERE attrelid = 'items'::regclass AND attname = 'embedding'") || return
	cast=$(engine_cast "$e" "$dim")
	key="embedding vector_l2_ops"
	[ -z "$cast" ] || key="(embedding::$cast) ${cast%%(*}_l2_ops"
	echo "  CREATE INDEX ... USING ${ENGINE_AM[$e]} ($key) WITH (m = $BENCH_M, ef_construction = $BENCH_EFC)"
	echo "  maintenance_work_mem = $BENCH_MWM, max_parallel_maintenance_workers = $BENCH_WORKERS"
	"${BENCH_PY[@]}" --out "$out" --engine "$e" --timeout "$BENCH_BUILD_TIMEOUT" build \
		--db "$db" --rows "$rows" --dataset-name "$name" --indexed "${cast:-vector}" "$@" \
		--set "maintenance_work_mem = '$BENCH_MWM'" \
		--set "max_parallel_maintenance_workers = $BENCH_WORKERS" \
		--sql "CREATE INDEX $idx ON items USING ${ENGINE_AM[$e]} ($key)
		       WITH (m = $BENCH_M, ef_construction = $BENCH_EFC)" || return
	bytes=$(omen_psql -d "$db" -Atc "SELECT pg_relation_size('$idx')") || return
	printf '{"dataset": "%s", "engine": "%s", "kind": "size", "bytes": %d}\n' "$name" "$e" "$bytes" >> "$out"
	echo "  index size: $((bytes / 1048576)) MB ($bytes bytes)"
}
