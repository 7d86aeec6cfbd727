# Shared helpers of the omenhnsw durability tests (test/t/02*.pl).
#
# Every test works on one table, t (id bigserial, v vector(DIM)), whose rows
# are drawn around 20 cluster centres by the SQL function rand_vec(cluster),
# and on a table q of 100 query vectors drawn the same way.  Data are
# deterministic for a given seed as long as one session draws them.
package OmenDurTest;

use strict;
use warnings;
use Exporter 'import';
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(omen_node omen_setup omen_load verify_clean knn_uses_index
  self_reach recall_at knn_check_ok pgbench_start pgbench_finish pgbench_tps
  log_clean_ok crash_node);

my $ext = $ENV{OMEN_EXTENSION} || 'omendb';

# A started node with settings fit for load tests: statements are not logged
# (the default log_statement = all would write one line per pgbench query).
sub omen_node
{
	my ($name, %params) = @_;
	my $conf = delete $params{conf} // '';
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%params);
	$node->append_conf(
		'postgresql.conf', qq{
log_statement = none
shared_buffers = 32MB
max_connections = 30
maintenance_work_mem = 64MB
jit = off
$conf
});
	$node->start;
	return $node;
}

# Creates the extension, the cluster centres, rand_vec(), knn_check(),
# the query table q and the empty table t.
sub omen_setup
{
	my ($node, %opts) = @_;
	my $dim = $opts{dim} // 32;
	my $noise = $opts{noise} // 0.8;
	$node->safe_psql(
		'postgres', qq{
CREATE EXTENSION $ext;
SET max_parallel_workers_per_gather = 0;
SELECT setseed(0.42);
CREATE TABLE centers AS
  SELECT c AS cid, d AS dim, (random() * 2 - 1)::real AS x
  FROM generate_series(1, 20) c, generate_series(1, $dim) d;
CREATE FUNCTION rand_vec(c int) RETURNS vector LANGUAGE sql VOLATILE AS
\$\$ SELECT array_agg(x + (random() - 0.5)::real * $noise ORDER BY dim)::vector
    FROM centers WHERE cid = c \$\$;
CREATE TABLE q AS SELECT g AS qid, rand_vec(1 + g % 20) AS v
  FROM generate_series(1, 100) g;
CREATE TABLE t (id bigserial PRIMARY KEY, v vector($dim));
-- Raises unless an index-ordered KNN query returns rows in non-decreasing
-- true distance (a stale index entry whose heap slot was reused by another
-- row would show up out of order) and, if asked, min(k, live rows) of them.
CREATE FUNCTION knn_check(qv vector, k int, complete bool DEFAULT true)
RETURNS void
LANGUAGE plpgsql SET enable_sort = off AS \$\$
DECLARE
  prev float8 := 0;
  d float8;
  n int := 0;
BEGIN
  FOR d IN SELECT t.v <-> qv FROM t ORDER BY t.v <-> qv LIMIT k LOOP
    IF d < prev * (1 - 1e-5) THEN
      RAISE EXCEPTION 'knn_check: distance % returned after %', d, prev;
    END IF;
    prev := d;
    n := n + 1;
  END LOOP;
  IF complete AND n < k AND n < (SELECT count(*) FROM t) THEN
    RAISE EXCEPTION 'knn_check: % rows returned, LIMIT %', n, k;
  END IF;
END \$\$;
});
	return;
}

# Inserts n rows, cycling through the clusters.
sub omen_load
{
	my ($node, $n, $seed) = @_;
	$node->safe_psql('postgres',
		(defined $seed ? "SELECT setseed($seed);" : '')
		  . "INSERT INTO t (v) SELECT rand_vec(1 + g % 20) FROM generate_series(1, $n) g"
	);
	return;
}

# Passes when omenhnsw_verify reports nothing; shows the first problems.
sub verify_clean
{
	my ($node, $index, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @rows = split /\n/,
	  $node->safe_psql('postgres', "SELECT * FROM omenhnsw_verify('$index')");
	ok(@rows == 0, $name)
	  or diag(scalar(@rows) . " verifier rows, first ones:\n"
		  . join("\n", @rows[ 0 .. ($#rows < 9 ? $#rows : 9) ]));
	return scalar @rows;
}

my $knn_settings = 'SET enable_sort = off;';

# The KNN subqueries of self_reach and recall_at must be index scans
# (otherwise these checks would measure a sort).
sub knn_uses_index
{
	my ($node, $index) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $plan = $node->safe_psql(
		'postgres', qq{$knn_settings
EXPLAIN (COSTS OFF) SELECT a.id FROM t a
  WHERE a.id IN (SELECT b.id FROM t b ORDER BY b.v <-> a.v LIMIT 3);
EXPLAIN (COSTS OFF) SELECT (SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> q.v LIMIT 10) a) FROM q;
});
	my $n = () = $plan =~ /Index Scan using $index on t/g;
	is($n, 2, "KNN subqueries are scans of $index") or diag($plan);
	return;
}

# (found, total): how many rows of t matching $where are among the $k first
# results of an index-ordered query for their own vector.
sub self_reach
{
	my ($node, $where, $ef, $k) = @_;
	my $out = $node->safe_psql(
		'postgres', qq{$knn_settings SET omenhnsw.ef_search = $ef;
SELECT count(*) FILTER (WHERE a.id IN
         (SELECT b.id FROM t b ORDER BY b.v <-> a.v LIMIT $k)),
       count(*)
FROM t a WHERE $where});
	return split /\|/, $out;
}

# Mean recall@k of the index over the query vectors of q, against an exact
# top-k computed by a sort ("+ 0" keeps the index out of it).
sub recall_at
{
	my ($node, $ef, $k) = @_;
	return $node->safe_psql(
		'postgres', qq{$knn_settings SET omenhnsw.ef_search = $ef;
SELECT round(avg(r), 4) FROM (
  SELECT (SELECT count(*) FROM (SELECT id FROM t ORDER BY v <-> q.v LIMIT $k) a
          WHERE a.id IN (SELECT id FROM t ORDER BY (v <-> q.v) + 0 LIMIT $k)
         )::numeric / $k AS r
  FROM q) s});
}

# knn_check() for every vector selected by $vectors_sql, at ef_search $ef
# (default 40).
sub knn_check_ok
{
	my ($node, $vectors_sql, $k, $name, $ef) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($ret, $out, $err) = $node->psql('postgres',
		'SET omenhnsw.ef_search = ' . ($ef // 40) . ';'
		  . "SELECT knn_check(s.v, $k) FROM ($vectors_sql) s");
	is($ret, 0, $name) or diag($err);
	return;
}

# Starts pgbench in the background on the given scripts (name => text; a
# name may end in \@weight), writing them to files first.
sub pgbench_start
{
	my ($node, $tag, $scripts, @opts) = @_;
	my @files;
	for my $name (sort keys %$scripts)
	{
		my ($base, $weight) = $name =~ /^([^@]+)(\@\d+)?$/;
		my $file = $node->basedir . "/$tag-$base.sql";
		open my $fh, '>', $file or die "cannot write $file: $!";
		print $fh $scripts->{$name};
		close $fh;
		push @files, '-f', $file . ($weight // '');
	}
	my %h = (out => '', err => '');
	$h{run} = IPC::Run::start(
		[
			'pgbench', '-n', '-h', $node->host, '-p', $node->port,
			@opts, @files, 'postgres'
		],
		'>', \$h{out}, '2>', \$h{err});
	return \%h;
}

# Waits for a pgbench started by pgbench_start: (exit status, stdout, stderr).
sub pgbench_finish
{
	my ($h) = @_;
	$h->{run}->finish;
	return ($h->{run}->result(0), $h->{out}, $h->{err});
}

sub pgbench_tps
{
	my ($out) = @_;
	return $out =~ /tps = ([\d.]+)/ ? $1 : 'n/a';
}

# Passes when the server log, from byte $offset on, has no line reporting
# an error, a crash or a failed WAL consistency check (knn_check's own errors
# are reported by knn_check_ok).
sub log_clean_ok
{
	my ($node, $offset, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @lines = grep {
		/\b(?:ERROR|FATAL|PANIC):|terminated by signal|inconsistent page/
		  && !/ERROR:  knn_check: /
	} split /\n/, slurp_file($node->logfile, $offset // 0);
	ok(@lines == 0, $name)
	  or diag(join("\n", @lines[ 0 .. ($#lines < 19 ? $#lines : 19) ]));
	return;
}

# A power cut, as far as one machine can tell: the postmaster is stopped so
# that it can start nothing new, every child gets SIGKILL, then the
# postmaster itself (kill9, so that the node knows it is down).
sub crash_node
{
	my ($node) = @_;
	open my $fh, '<', $node->data_dir . '/postmaster.pid'
	  or die "no postmaster.pid: $!";
	my $pm = <$fh>;
	close $fh;
	chomp $pm;
	kill 'STOP', $pm;
	my @children;
	for my $stat (glob '/proc/[0-9]*/stat')
	{
		open my $sfh, '<', $stat or next;
		my $line = <$sfh>;
		close $sfh;
		# pid (comm) state ppid ...; comm may contain spaces
		next unless defined $line && $line =~ /^(\d+) \(.*\) \S+ (\d+)/;
		push @children, $1 if $2 == $pm;
	}
	kill 'KILL', @children;
	$node->kill9;
	# Wait until every process of the old server is reaped: a zombie
	# postmaster still counts as running for the next one's lock file check.
	for my $pid ($pm, @children)
	{
		for (1 .. 600)
		{
			last unless -e "/proc/$pid";
			usleep(50_000);
		}
	}
	return scalar @children;
}

1;
