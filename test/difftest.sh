#!/usr/bin/env bash
# make difftest: the differential test of omendb against pgvector (test/difftest.py).
# Builds and installs omendb, starts a throwaway cluster, makes one database per extension and
# runs seeded, generated cases in both for DIFFTEST_SECONDS.  Where pgvector (extension
# `vector`) is not installed in this PostgreSQL it says so and exits 0 without testing.
# Not part of `make test`.
#
# Environment: PG_CONFIG (default pg_config); DIFFTEST_SECONDS (default 300); DIFFTEST_SEED
# (default: a random seed, printed); DIFFTEST_OUT (the report, as Markdown; default
# /var/tmp/omendb-difftest/report-<time>.md); DIFFTEST_REPLAY=FILE runs one reproducer from a
# report in both databases and prints both answers instead.  Exit 1 when a difference that is
# not documented as by design, or a crash, was found and reproduced.
set -uo pipefail
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OMEN_ROOT" || exit 1

omen_need_packages postgresql-15 postgresql-server-dev-15 build-essential python3 python3-psycopg

sharedir=$("$PG_CONFIG" --sharedir) || omen_die "cannot run '$PG_CONFIG --sharedir'"
if [[ ! -f $sharedir/extension/vector.control ]]; then
	omen_log "pgvector (extension vector) is not installed in $sharedir: difftest skipped"
	exit 0
fi

omen_build_install >/dev/null || omen_die "build failed"
omen_cluster_start "max_parallel_maintenance_workers = 0" "shared_buffers = '128MB'"

for db in difftest_omen:omendb difftest_pgv:vector; do
	omen_psql -c "CREATE DATABASE ${db%%:*}" &&
		omen_psql -d "${db%%:*}" -c "CREATE EXTENSION ${db##*:}" ||
		omen_die "cannot create database ${db%%:*} with extension ${db##*:}"
done

out=${DIFFTEST_OUT:-/var/tmp/omendb-difftest/report-$(date +%Y%m%d-%H%M%S).md}
mkdir -p "$(dirname "$out")"
/usr/bin/python3 test/difftest.py --omen-db difftest_omen --pgv-db difftest_pgv --out "$out"
