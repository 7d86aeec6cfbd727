#!/bin/bash
# make demo: omendb end to end on Fashion-MNIST (ann-benchmarks' fashion-mnist-784-euclidean).
# Installs what it needs, builds and installs omendb, starts a throwaway cluster, loads the
# 60,000 training images as vector(784), builds an omenhnsw index while showing its progress,
# runs the test images as queries at several ef_search values (recall@10 against exact
# results, queries/s of one client) and shows one query's nearest neighbours.
#
# Environment: DEMO_QUERIES [10000] test images used as queries (the first N),
# DEMO_EFS [10,40,100,200], DEMO_ENGINE [omendb] (pgvector works too, if installed),
# plus the BENCH_* index settings of test/bench/common.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. test/bench/common.sh

DEMO_QUERIES=${DEMO_QUERIES:-10000}
DEMO_EFS=${DEMO_EFS:-10,40,100,200}
e=${DEMO_ENGINE:-omendb}
db=${ENGINE_DB[$e]}
started=$EPOCHREALTIME

echo "== omendb demo: Fashion-MNIST, 60,000 images as vector(784), L2 distance =="
echo
echo "[1/7] installing missing packages"
bench_need_packages
echo "[2/7] building and installing omendb"
omen_build_install >/dev/null
echo "[3/7] data set and exact nearest neighbours of the first $DEMO_QUERIES test images"
"${BENCH_PY[@]}" prepare fashion --queries "$DEMO_QUERIES"
read -r name n dim < <("${BENCH_PY[@]}" info fashion)

echo "[4/7] starting a throwaway PostgreSQL cluster"
bench_cluster_start
results=$OMEN_CLUSTER_DIR/demo.jsonl
omen_psql -Atc "SELECT version()"
if ! engine_available "$e"; then
	echo "ERROR: extension ${ENGINE_EXT[$e]} is not installed in this PostgreSQL" >&2
	exit 1
fi

echo "[5/7] CREATE TABLE items (id integer, embedding vector($dim)); COPY $n rows"
engine_create "$e" "$dim"
engine_load "$e" fashion "$name" "$n" "$results"

echo "[6/7] building the index (progress from pg_stat_progress_create_index)"
engine_build "$e" "$name" "$n" "$results" --every 2

echo "[7/7] $DEMO_QUERIES queries per ef_search value: SELECT id FROM items ORDER BY embedding <-> \$1 LIMIT 10"
"${BENCH_PY[@]}" --out "$results" --engine "$e" --timeout "$BENCH_STATEMENT_TIMEOUT" query fashion \
	--db "$db" --guc "${ENGINE_GUC[$e]}" --queries "$DEMO_QUERIES" --efs "$DEMO_EFS" --explain
echo
echo "nearest neighbours of one test image:"
"${BENCH_PY[@]}" --timeout "$BENCH_STATEMENT_TIMEOUT" neighbours fashion --db "$db" \
	--guc "${ENGINE_GUC[$e]}" --ef 40 --query-index 0

"${BENCH_PY[@]}" report "$results" --engines "$e"
omen_cluster_stop
echo
echo "demo finished in $(bench_seconds "$started") s; the cluster is stopped and removed"
