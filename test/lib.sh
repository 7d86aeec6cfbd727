# shellcheck shell=bash
# omendb test library, sourced by test/run_tests.sh, test/demo.sh and test/bench.sh.
#
#   omen_need_packages PKG...   install missing Debian packages (root) or name them and stop
#   omen_build_install          make OMEN_WERROR=1 && make install, with $PG_CONFIG
#   omen_cluster_start [LINE]...  throwaway cluster on a private unix socket; LINEs are
#                               appended to postgresql.conf; exports PGHOST PGPORT PGUSER
#                               PGDATABASE OMEN_CLUSTER_DIR; stopped and removed at exit
#   omen_cluster_stop           stop and remove it (idempotent)
#   omen_psql ARGS...           psql -X -q -v ON_ERROR_STOP=1
#
# PG_CONFIG defaults to the pg_config on PATH.

: "${PG_CONFIG:=pg_config}"
OMEN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

omen_log() { printf 'omendb: %s\n' "$*"; }
omen_die() { printf 'omendb: ERROR: %s\n' "$*" >&2; exit 1; }

omen_pg_bindir() {
	"$PG_CONFIG" --bindir 2>/dev/null ||
		omen_die "cannot run '$PG_CONFIG --bindir' (install postgresql-server-dev-15 or set PG_CONFIG)"
}

# Installed as such, or provided by an installed package (nodesource's nodejs provides npm).
_omen_pkg_present() {
	dpkg-query -W -f='${db:Status-Abbrev}' "$1" 2>/dev/null | grep -q '^ii' && return 0
	dpkg-query -W -f='${db:Status-Abbrev}|${Provides}\n' 2>/dev/null |
		awk -F'|' -v want="$1" '
			$1 ~ /^ii/ {
				n = split($2, p, /, */)
				for (i = 1; i <= n; i++) { sub(/ .*/, "", p[i]); if (p[i] == want) found = 1 }
			}
			END { exit !found }'
}

_omen_apt_updated=
omen_need_packages() {
	local missing=() pkg
	command -v dpkg-query >/dev/null || omen_die "not a Debian system: cannot check packages $*"
	for pkg in "$@"; do
		_omen_pkg_present "$pkg" || missing+=("$pkg")
	done
	((${#missing[@]})) || return 0
	if [[ $(id -u) -ne 0 ]]; then
		omen_die "missing Debian packages: ${missing[*]} (run as root to install them, or: apt-get install ${missing[*]})"
	fi
	omen_log "installing Debian packages: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if [[ -z $_omen_apt_updated ]]; then
		apt-get update -q || omen_die "apt-get update failed"
		_omen_apt_updated=1
	fi
	apt-get install -y -q "${missing[@]}" </dev/null ||
		omen_die "apt-get install ${missing[*]} failed"
}

omen_build_install() {
	local mk=(make -C "$OMEN_ROOT" PG_CONFIG="$PG_CONFIG")
	# A clean build, so that -Werror sees every file.
	"${mk[@]}" clean >/dev/null &&
		"${mk[@]}" OMEN_WERROR=1 &&
		"${mk[@]}" install
}

# Run a command as the cluster's owner: postgres when we are root, else ourselves.
_omen_as_owner() {
	if [[ $(id -u) -eq 0 ]]; then
		if command -v runuser >/dev/null; then
			runuser -u postgres -- "$@"
		else
			su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
		fi
	else
		"$@"
	fi
}

# Append a command to the EXIT trap, keeping whatever the caller had installed.
_omen_add_exit_trap() {
	local old
	old=$(trap -p EXIT)
	old=${old#"trap -- '"}
	old=${old%"' EXIT"}
	old=${old//"'\\''"/"'"}
	# shellcheck disable=SC2064
	trap -- "$1${old:+; $old}" EXIT
}

_omen_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null &&
		! (exec 3<>"/dev/tcp/::1/$1") 2>/dev/null
}

omen_cluster_start() {
	local bindir dir port line tries=0
	[[ -z ${OMEN_CLUSTER_DIR:-} ]] || omen_die "a cluster is already running in $OMEN_CLUSTER_DIR"
	bindir=$(omen_pg_bindir) || exit 1
	[[ -x $bindir/initdb ]] || omen_die "no initdb in $bindir (install postgresql-15)"
	if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
		omen_die "running as root needs a 'postgres' user to own the cluster (install postgresql-15)"
	fi

	dir=$(mktemp -d "${TMPDIR:-/tmp}/omendb-cluster.XXXXXX") || omen_die "mktemp failed"
	chmod 755 "$dir"
	[[ $(id -u) -ne 0 ]] || chown postgres: "$dir"
	OMEN_CLUSTER_DIR=$dir
	if [[ -z ${_omen_trap_set:-} ]]; then
		_omen_add_exit_trap omen_cluster_stop
		_omen_trap_set=1
	fi

	while :; do
		port=$((20000 + RANDOM % 30000))
		_omen_port_free "$port" && break
		((++tries < 100)) || omen_die "no free TCP port found"
	done

	# Work from the cluster directory: the caller's may be unreadable for postgres.
	(cd "$dir" && _omen_as_owner mkdir sock &&
		_omen_as_owner "$bindir/initdb" -D "$dir/data" -U postgres -A trust \
			-E UTF8 --locale=C -N >"$dir/initdb.log" 2>&1) ||
		{ cat "$dir/initdb.log" >&2; omen_die "initdb failed"; }

	{
		echo "# added by omendb test/lib.sh"
		echo "listen_addresses = ''"
		echo "port = $port"
		echo "unix_socket_directories = '$dir/sock'"
		echo "fsync = off"
		echo "synchronous_commit = off"
		echo "full_page_writes = off"
		for line in "$@"; do
			echo "$line"
		done
	} >>"$dir/data/postgresql.conf"

	(cd "$dir" && _omen_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" \
		-w -t 120 start >/dev/null) ||
		{ tail -n 30 "$dir/server.log" >&2; omen_die "the server did not start"; }

	export OMEN_CLUSTER_DIR PGHOST=$dir/sock PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	omen_log "cluster up: PGHOST=$PGHOST PGPORT=$PGPORT (log: $dir/server.log)"
}

omen_cluster_stop() {
	local dir=${OMEN_CLUSTER_DIR:-} bindir
	[[ -n $dir ]] || return 0
	unset OMEN_CLUSTER_DIR PGHOST PGPORT PGUSER PGDATABASE
	if [[ -f $dir/data/postmaster.pid ]] && bindir=$("$PG_CONFIG" --bindir 2>/dev/null); then
		(cd "$dir" && {
			_omen_as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop ||
				_omen_as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop
		}) >/dev/null 2>&1
	fi
	rm -rf "$dir"
	return 0
}

omen_psql() {
	local bindir
	bindir=$(omen_pg_bindir) || return 1
	"$bindir/psql" -X -q -v ON_ERROR_STOP=1 "$@"
}
