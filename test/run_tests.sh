#!/usr/bin/env bash
# omendb's whole test suite (`make test`): installs what it needs (as root), builds with
# warnings as errors, installs, then runs the kernel unit test, pg_regress on a throwaway
# cluster, the client tests (test/clients) and the TAP tests (test/t/*.pl), and a short run of
# each libFuzzer target (test/fuzz).
# Ends with the line `omendb: N passed, N failed` (one count per suite); exit 1 on any failure.
# Environment: PG_CONFIG (default pg_config); OMEN_TAP_TIMEOUT (seconds, default 2400).
set -uo pipefail
# shellcheck source=test/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$OMEN_ROOT" || exit 1

PACKAGES=(make build-essential perl libipc-run-perl postgresql-15 postgresql-server-dev-15
	python3 python3-psycopg nodejs npm dataset-fashion-mnist clang-14 libclang-rt-14-dev)
NODE_DEPS=(pg@8.23.1 pgvector@0.3.0 knex@3.3.0)
# Debian's python3, which has python3-psycopg (PATH may lead to another one).
PYTHON=/usr/bin/python3

passed=0
failed=0
results=()

# record NAME pass|fail|skip [NOTE]
record() {
	local name=$1 status=$2 note=${3:-}
	case $status in
	pass) ((++passed)) ;;
	fail) ((++failed)) ;;
	esac
	results+=("$(printf '%-5s %-28s %s' "${status^^}" "$name" "$note")")
}

section() { printf '\n==== %s\n' "$*"; }

finish() {
	finished=1
	omen_cluster_stop
	section summary
	printf '  %s\n' "${results[@]}"
	echo "omendb: $passed passed, $failed failed"
	((failed == 0))
	exit
}

# with_timeout SECONDS CMD...: a hung test fails instead of stalling the run.
with_timeout() {
	local secs=$1
	shift
	timeout --kill-after=30 "$secs" "$@"
	local rc=$?
	((rc != 124 && rc != 137)) || echo "omendb: timed out after ${secs}s: $*"
	return $rc
}

run_kernel_test() {
	section "kernel unit test"
	if [[ ! -f test/kernel_test.c ]]; then
		echo "test/kernel_test.c is absent: skipped"
		record kernel skip "test/kernel_test.c absent"
		return
	fi
	mkdir -p test/.build
	if cc -O2 -Isrc -o test/.build/kernel_test test/kernel_test.c src/distance.c -lm &&
		with_timeout 600 test/.build/kernel_test; then
		record kernel pass
	else
		record kernel fail
	fi
}

# Each libFuzzer target for a few seconds from its seed corpus; a crash fails.
run_fuzz_smoke() {
	section "fuzz smoke (test/fuzz)"
	if with_timeout 600 make --no-print-directory -f test/fuzz/Makefile PG_CONFIG="$PG_CONFIG" smoke; then
		record fuzz pass
	else
		record fuzz fail "inputs and logs in test/.build/fuzz"
	fi
}

run_regress() {
	section "pg_regress (make installcheck)"
	local tests
	# shellcheck disable=SC2016
	tests=$(make -s --no-print-directory PG_CONFIG="$PG_CONFIG" -f Makefile -f - <<<'print-regress: ; @echo $(REGRESS)' print-regress)
	if [[ -z $tests ]]; then
		echo "no pg_regress tests in sql/: skipped"
		record pg_regress skip "no tests in sql/"
		return
	fi
	if with_timeout 900 make --no-print-directory PG_CONFIG="$PG_CONFIG" installcheck; then
		record pg_regress pass "$(wc -w <<<"$tests") tests"
	else
		local diffs
		for diffs in regression.diffs output_iso/regression.diffs; do
			if [[ -f $diffs ]]; then
				echo "---- $diffs"
				head -n 400 "$diffs"
			fi
		done
		record pg_regress fail "see regression.diffs, output_iso/regression.diffs"
	fi
}

# Each client test runs in a database of its own.
run_client() {
	local file=$1 name db
	name=$(basename "$file")
	name=${name%.*}
	db=client_${name}
	section "client test: $name"
	omen_psql -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" || {
		record "client $name" fail "could not create database $db"
		return
	}
	local cmd
	case $file in
	*.py) cmd=("$PYTHON" "$file") ;;
	*.mjs | *.js) cmd=(node "$file") ;;
	esac
	if PGDATABASE=$db with_timeout 300 "${cmd[@]}"; then
		record "client $name" pass
	else
		record "client $name" fail
	fi
}

node_deps_present() {
	local dep name version
	for dep in "${NODE_DEPS[@]}"; do
		name=${dep%@*}
		version=${dep##*@}
		[[ -f test/node_modules/$name/package.json ]] || return 1
		grep -q "\"version\": *\"$version\"" "test/node_modules/$name/package.json" || return 1
	done
}

run_clients() {
	local file clients=()
	for file in test/clients/*.py test/clients/*.mjs test/clients/*.js; do
		[[ -f $file ]] && clients+=("$file")
	done
	if ((${#clients[@]} == 0)); then
		record clients skip "no tests in test/clients"
		return
	fi
	if compgen -G 'test/clients/*js' >/dev/null && ! node_deps_present; then
		section "npm install ${NODE_DEPS[*]} (into test/node_modules)"
		npm install --prefix test --no-save --no-package-lock --no-audit --no-fund \
			--loglevel=error "${NODE_DEPS[@]}" || echo "omendb: npm install failed"
	fi
	for file in "${clients[@]}"; do
		run_client "$file"
	done
}

# TAP tests build their own clusters with PostgreSQL::Test::Cluster. initdb refuses root,
# so as root they run as postgres, from a copy in a temp dir that postgres owns.
run_tap() {
	section "TAP tests (prove test/t)"
	if ! compgen -G 'test/t/*.pl' >/dev/null; then
		echo "no TAP tests in test/t: skipped"
		record prove skip "no tests in test/t"
		return
	fi
	local bindir pgxs pgxsdir status
	if ! bindir=$("$PG_CONFIG" --bindir) || ! pgxs=$("$PG_CONFIG" --pgxs); then
		record prove fail "cannot ask $PG_CONFIG"
		return
	fi
	# .../lib/pgxs/src/makefiles/pgxs.mk -> .../lib/pgxs
	pgxsdir=$(dirname "$(dirname "$(dirname "$pgxs")")")
	tapdir=$(mktemp -d "${TMPDIR:-/tmp}/omendb-tap.XXXXXX") || { record prove fail "mktemp"; return; }
	chmod 755 "$tapdir"
	cp -R test/t "$tapdir/t"
	[[ $(id -u) -ne 0 ]] || chown -R postgres: "$tapdir"
	(cd "$tapdir" && _omen_as_owner env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
		PATH="$bindir:/usr/local/bin:/usr/bin:/bin" \
		PERL5LIB="$pgxsdir/src/test/perl${PERL5LIB:+:$PERL5LIB}" \
		PG_REGRESS="$pgxsdir/src/test/regress/pg_regress" \
		TESTDIR="$tapdir" OMEN_EXTENSION="${OMEN_EXTENSION:-omendb}" \
		timeout --kill-after=30 "${OMEN_TAP_TIMEOUT:-2400}" prove --timer t/*.pl) |
		tee "$tapdir/prove.out"
	status=${PIPESTATUS[0]}
	if ((status == 0)); then
		record prove pass "$(compgen -G 'test/t/*.pl' | wc -l) files"
	else
		((status != 124 && status != 137)) || echo "omendb: prove timed out"
		rm -rf test/.build/tap_log
		mkdir -p test/.build
		cp -R "$tapdir/tmp_check/log" test/.build/tap_log 2>/dev/null
		# Only the failed files' logs, and their names last: CI shows the end of the output.
		local failed_files file
		failed_files=$(sed -n -e '/(Wstat: 0 [^)]*Failed: 0)/d' \
			-e 's|^\(t/[^ ]*\.pl\) *(Wstat.*|\1|p' "$tapdir/prove.out" | sort -u)
		for file in $failed_files; do
			file=test/.build/tap_log/regress_log_$(basename "$file" .pl)
			[[ -f $file ]] || continue
			echo "---- failed checks in $file"
			grep -n -A12 ' not ok ' "$file" | head -n 120
			echo "---- tail of $file"
			tail -n 40 "$file"
		done
		sed -n '/^Test Summary Report/,$p' "$tapdir/prove.out"
		record prove fail "failed: $(echo ${failed_files:-unknown}); logs in test/.build/tap_log"
	fi
	remove_tapdir
}

# Stops any node a killed or timed-out test left running, then removes the copy.
tapdir=
remove_tapdir() {
	local pidfile bindir
	[[ -n $tapdir ]] || return 0
	bindir=$("$PG_CONFIG" --bindir 2>/dev/null)
	for pidfile in "$tapdir"/tmp_check/*/pgdata/postmaster.pid; do
		[[ -f $pidfile ]] || continue
		(cd "$tapdir" && _omen_as_owner "$bindir/pg_ctl" -D "$(dirname "$pidfile")" -m immediate -w stop) >/dev/null 2>&1
	done
	rm -rf "$tapdir"
	tapdir=
}

# An unexpected exit (a lib.sh function gave up) still ends with the summary.
step=setup
finished=
on_exit() {
	remove_tapdir
	[[ -n $finished ]] && return
	record "$step" fail "aborted"
	finish
}
trap on_exit EXIT

section "Debian packages"
step=packages
if (omen_need_packages "${PACKAGES[@]}"); then
	echo "present: ${PACKAGES[*]}"
else
	record packages fail "missing packages"
	finish
fi

step=kernel
run_kernel_test
step=fuzz
run_fuzz_smoke

section "build (OMEN_WERROR=1) and install, PG_CONFIG=$PG_CONFIG"
step=build
if ! omen_build_install; then
	record build fail "make OMEN_WERROR=1 && make install"
	finish
fi

section "throwaway cluster"
step=cluster
omen_cluster_start
step=pg_regress
run_regress
step=clients
run_clients
omen_cluster_stop

step=prove
run_tap
finish
