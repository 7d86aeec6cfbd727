# Helpers shared by omendb's TAP tests (test/t/*.pl): nodes and standbys,
# crashes, index builds that report their NOTICEs, generated and Fashion-MNIST
# data, exact ground truth and recall measured by the server, the verifier,
# and the load tests' table t driven by pgbench.
#
# The load tests (test/t/02*.pl) work on one table, t (id bigserial, v
# vector(DIM)), whose rows are drawn around 20 cluster centres by the SQL
# function rand_vec(cluster), and on a table q of 100 query vectors drawn the
# same way (omen_setup).  Data are deterministic for a given seed as long as
# one session draws them.
package OmenTest;

use strict;
use warnings FATAL => 'all';

use Cwd qw(abs_path);
use Exporter 'import';
use IO::Uncompress::Gunzip qw($GunzipError);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(omen_node omen_standby crash_node log_clean_ok run_sql
  verify_clean build_index watch_build segment_count make_clustered
  ground_truth recall_at recall_ok write_idx_images fashion_required
  load_fashion omen_setup omen_load t_index knn_uses_index self_reach
  t_recall knn_check_ok index_finds_uses unfound_rows standby_ok pgbench_start pgbench_finish
  pgbench_tps acked_start acked_finish acked_present_ok);

my $ext = $ENV{OMEN_EXTENSION} || 'omendb';

# ---- nodes ----

# A started node.  Its settings fit load tests: statements are not logged
# (the default log_statement = all would write one line per pgbench query),
# small shared buffers.  conf: more postgresql.conf lines (a string or an
# array ref), which win over these; extension => 1 creates the extension in
# database postgres; the other parameters go to init.
sub omen_node
{
	my ($name, %params) = @_;
	my $conf = delete $params{conf} // '';
	my $extension = delete $params{extension};
	$conf = join("\n", @$conf) if ref $conf;
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
	$node->safe_psql('postgres', "CREATE EXTENSION $ext") if $extension;
	return $node;
}

# A started streaming standby of $primary (made with allows_streaming), from
# a new base backup.  It inherits the primary's settings.  A physical slot
# keeps the primary from removing WAL the standby has not received, however
# far a busy machine lets it fall behind.
sub omen_standby
{
	my ($primary, $name) = @_;
	$primary->safe_psql('postgres',
		"SELECT pg_create_physical_replication_slot('$name')");
	$primary->backup("${name}_base");
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($primary, "${name}_base", has_streaming => 1);
	$standby->append_conf('postgresql.conf', "primary_slot_name = '$name'");
	$standby->start;
	return $standby;
}

# A power cut, as far as one machine can tell: the postmaster is stopped so
# that it can start nothing new, every child gets SIGKILL, then the
# postmaster itself (kill9, so that the node knows it is down).  Returns how
# many children were killed.
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

# Passes when the server log, from byte $offset on, has no line reporting
# an error, a crash or a failed WAL consistency check (knn_check's own errors
# are reported by knn_check_ok), but for lines matching $expected.
sub log_clean_ok
{
	my ($node, $offset, $name, $expected) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my @lines = grep {
		/\b(?:ERROR|FATAL|PANIC):|terminated by signal|inconsistent page/
		  && !/ERROR:  knn_check: /
		  && !(defined $expected && $_ =~ $expected)
	} split /\n/, slurp_file($node->logfile, $offset // 0);
	ok(@lines == 0, $name)
	  or diag(join("\n", @lines[ 0 .. ($#lines < 19 ? $#lines : 19) ]));
	return;
}

# ---- SQL ----

# Run SQL, die on error, return (stdout, stderr); stderr carries the NOTICEs.
sub run_sql
{
	my ($node, $sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		'postgres', $sql,
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1);
	die "SQL failed ($rc): $err\nSQL: $sql" if $rc != 0;
	return ($out, $err);
}

# Passes when omenhnsw_verify reports nothing; shows the first problems.
# Returns how many it reported.
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

# ---- builds ----

# Run the session settings and the CREATE INDEX; return its NOTICEs.
sub build_index
{
	my ($node, $settings, $create) = @_;
	my (undef, $err) = run_sql($node, "$settings\n$create;");
	note "build: $create\n$err" if $err ne '';
	return $err;
}

# Run the settings and the CREATE INDEX of index $index in a background
# session while polling pg_stat_progress_create_index and pg_stat_activity.
# Returns the build's NOTICEs, the set of phases seen and the most parallel
# workers seen at once.  Dies if the index was not built.
sub watch_build
{
	my ($node, $settings, $create, $index) = @_;
	my $bg = $node->background_psql('postgres', timeout => 1200);
	my $pid = $bg->query_safe('SELECT pg_backend_pid()');
	$bg->query_until(qr/started/,
		"$settings\n\\echo started\n$create;\n\\echo finished\n");
	my (%phases, $workers);
	$workers = 0;
	while (1)
	{
		my $row = $node->safe_psql(
			'postgres', qq{
SELECT (SELECT string_agg(phase, ';') FROM pg_stat_progress_create_index
		WHERE pid = $pid),
	(SELECT count(*) FROM pg_stat_activity
		WHERE backend_type = 'parallel worker' AND leader_pid = $pid),
	coalesce((SELECT state = 'idle' AND query ~* '^\\s*CREATE INDEX'
		FROM pg_stat_activity WHERE pid = $pid), true)});
		my ($phase, $nworkers, $done) = split /\|/, $row, -1;
		$phases{$phase} = 1 if $phase ne '';
		$workers = $nworkers if $nworkers > $workers;
		last if $done eq 't';
		usleep(50_000);
	}
	# a query round trip reads psql's stderr up to a marker printed after
	# the build, so it holds all of the build's NOTICEs
	$bg->query_until(qr/finished/, '');
	$bg->query('SELECT 1');
	my $notices = $bg->{stderr};
	$bg->quit;
	note "build: $create\n$notices" if $notices ne '';
	my $valid = $node->safe_psql('postgres',
		"SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('$index')");
	die "index $index was not built: $notices" unless $valid eq 't';
	return ($notices, \%phases, $workers);
}

# Segments reported by the build NOTICE; 1 when there was no such NOTICE.
sub segment_count
{
	my ($notices) = @_;
	return $notices =~ /omenhnsw index "[^"]+" was built as (\d+) segments/
	  ? $1
	  : 1;
}

# ---- data ----

# Tables $table and $queries (id, v vector($dim)) of $n and $nq points around
# $clusters random centres in [-1,1]^dim, with uniform noise of width $noise
# per coordinate; deterministic for a given $seed.  Data row i belongs to
# centre i % $clusters; the queries are fresh points of the same centres.
sub make_clustered
{
	my ($node, %a) = @_;
	my $points = sub {
		my ($table, $n) = @_;
		return qq{
CREATE TABLE $table (id int, v vector($a{dim}));
INSERT INTO $table
SELECT p, array_agg(c.a[d] + (random() - 0.5) * $a{noise} ORDER BY d)
FROM generate_series(1, $n) p
JOIN centres c ON c.c = p % $a{clusters}
CROSS JOIN generate_series(1, $a{dim}) d
GROUP BY p;};
	};
	run_sql(
		$node, qq{
SELECT setseed($a{seed});
CREATE TEMP TABLE centres AS
SELECT c, array_agg(random() * 2 - 1 ORDER BY d) AS a
FROM generate_series(0, $a{clusters} - 1) c, generate_series(1, $a{dim}) d
GROUP BY c;
@{[ $points->($a{table}, $a{n}) ]}
@{[ $points->($a{queries}, $a{nq}) ]}
});
	return;
}

# Write rows [$first, $first + $n) of an IDX image file (gzip, big-endian
# header, uint8 pixels) as COPY text "id<TAB>[p,p,...]", ids from 1.
sub write_idx_images
{
	my ($gz, $out, $first, $n) = @_;
	my $in = IO::Uncompress::Gunzip->new($gz)
	  or die "cannot open $gz: $GunzipError";
	my $hdr;
	$in->read($hdr, 16) == 16 or die "short header in $gz";
	my ($magic, $count, $rows, $cols) = unpack('N4', $hdr);
	die "$gz is not an IDX image file" unless $magic == 2051;
	die "$gz holds $count images, need " . ($first + $n)
	  if $first + $n > $count;
	my $size = $rows * $cols;
	my $buf;
	for (1 .. $first)
	{
		$in->read($buf, $size) == $size or die "short read in $gz";
	}
	open my $fh, '>', $out or die "cannot write $out: $!";
	for my $id (1 .. $n)
	{
		$in->read($buf, $size) == $size or die "short read in $gz";
		print $fh "$id\t[", join(',', unpack('C*', $buf)), "]\n";
	}
	close $fh or die "cannot write $out: $!";
	return $size;
}

my $fashion_dir = '/usr/share/datasets/fashion-mnist';

# Skips the whole test unless Fashion-MNIST (Debian's dataset-fashion-mnist)
# is installed.
sub fashion_required
{
	plan skip_all => "Fashion-MNIST not found in $fashion_dir"
	  unless -r "$fashion_dir/train-images-idx3-ubyte.gz"
	  && -r "$fashion_dir/t10k-images-idx3-ubyte.gz";
	return;
}

# Table $table (id int, v vector(784)) holding the first $n images of the
# Fashion-MNIST set $set ('train' or 't10k'), ids from 1; with plain => 1 its
# vectors are stored uncompressed (so that exact scans over 3 KB rows do not
# decompress every row for every query).  Returns the pixels per image.
sub load_fashion
{
	my ($node, $table, $set, $n, %opt) = @_;
	# the server reads the file, so it needs an absolute path
	my $file = abs_path(PostgreSQL::Test::Utils::tempdir) . "/$table.tsv";
	my $dim = write_idx_images("$fashion_dir/$set-images-idx3-ubyte.gz",
		$file, 0, $n);
	run_sql(
		$node, qq{
CREATE TABLE $table (id int, v vector($dim));
@{[ $opt{plain} ? "ALTER TABLE $table ALTER COLUMN v SET STORAGE PLAIN;" : '' ]}
COPY $table FROM '$file';
});
	unlink $file;
	return $dim;
}

# ---- ground truth and recall ----

# Table $gt(qid, kth): the exact distance of the k-th nearest row of $table
# to each query of $queries, computed by sequential scans.  With $a{filter},
# a condition on the rows of $table (alias t), only the rows that meet it.
sub ground_truth
{
	my ($node, %a) = @_;
	my $where = defined $a{filter} ? "WHERE $a{filter}" : '';
	run_sql(
		$node, qq{
SET enable_indexscan = off;
SET enable_bitmapscan = off;
DROP TABLE IF EXISTS $a{gt};
CREATE TABLE $a{gt} AS
SELECT q.id AS qid,
	(SELECT max(d) FROM (SELECT t.v $a{op} q.v AS d FROM $a{table} t $where
		ORDER BY t.v $a{op} q.v LIMIT $a{k}) s) AS kth
FROM $a{queries} q;
});
	return;
}

# recall@k of index $a{index} against ground truth $a{gt}: a returned row is a
# hit when it is no farther than the exact k-th neighbour (ties count).  Also
# returns the fewest rows any query got, whether no row came back twice,
# whether every query's rows came nearest first and how many queries got
# fewer than k rows.  $a{filter} is a condition on the rows of $a{table}
# (alias t), as in ground_truth.  Dies unless the k-NN subquery is planned as
# a scan of that index.
sub recall_at
{
	my ($node, %a) = @_;
	my $settings = "SET enable_seqscan = off;\n" . ($a{settings} // '');
	my $where = defined $a{filter} ? "WHERE $a{filter}" : '';
	# The operator recomputes each distance, possibly in another summation
	# order than the index did: "nearest first" allows for the last bits.
	my $sql = qq{
SELECT round(sum(coalesce(s.hits, 0))::numeric / (count(*) * $a{k}), 4),
	min(coalesce(s.n, 0)), bool_and(coalesce(s.nd = s.n, true)),
	bool_and(coalesce(s.ordered, true)),
	count(*) FILTER (WHERE coalesce(s.n, 0) < $a{k})
FROM $a{gt} g
LEFT JOIN (SELECT q.id AS qid, count(*) FILTER (WHERE x.d <= q.kth) AS hits,
		count(*) AS n, count(DISTINCT x.id) AS nd, bool_and(x.ordered) AS ordered
	FROM (SELECT qq.*, g2.kth FROM $a{queries} qq JOIN $a{gt} g2 ON g2.qid = qq.id) q
	CROSS JOIN LATERAL (SELECT y.id, y.d,
			y.d >= lag(y.d) OVER () - 1e-6 * abs(lag(y.d) OVER ()) AS ordered
		FROM (SELECT t.id, t.v $a{op} q.v AS d FROM $a{table} t $where
			ORDER BY t.v $a{op} q.v LIMIT $a{k}) y) x
	GROUP BY q.id) s ON s.qid = g.qid};
	my ($plan) = run_sql($node, "$settings\nEXPLAIN (COSTS OFF) $sql;");
	die "k-NN query does not use index $a{index}:\n$plan"
	  unless $plan =~ /Index Scan using $a{index} on/;
	my ($out) = run_sql($node, "$settings\n$sql;");
	chomp $out;
	my ($recall, $minrows, $distinct, $ordered, $short) = split /\|/, $out;
	return ($recall, $minrows, $distinct eq 't', $ordered eq 't', $short);
}

# recall_at at the default ef_search (the arguments of recall_at, but
# settings): passes when recall@k reaches $a{min}, every query got k rows and
# none got a row twice.  With min => undef the recall is only noted.  $a{what}
# begins the test names.  Returns the recall.
sub recall_ok
{
	my ($node, %a) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $what = delete $a{what};
	my $check = exists $a{min} ? defined $a{min} : 1;
	my $min = delete $a{min};
	my ($recall, $minrows, $distinct) = recall_at($node, %a);
	my $name = "$what: recall\@$a{k} = $recall at the default ef_search";
	if ($check)
	{
		cmp_ok($recall, '>=', $min, $name);
	}
	else
	{
		note $name;
	}
	is($minrows, $a{k}, "$what: every query got $a{k} rows");
	ok($distinct, "$what: no row returned twice");
	return $recall;
}

# ---- the load tests' table t ----

# A search of the index on t for the vector of row $1, and the settings it
# runs with: an iterative scan in relaxed order, filtered down to the row,
# with no bound on the nodes it visits, returns the row exactly when the row
# is reachable in the graph (small batches, as the row is nearly always in
# the first).
my $self_search = 'SELECT b.id FROM t b WHERE b.id + 0 = $1 '
  . 'ORDER BY b.v <-> (SELECT v FROM t WHERE id = $1) LIMIT 1';
my @self_settings = (
	[ enable_seqscan => 'off' ],
	[ enable_sort => 'off' ],
	[ enable_bitmapscan => 'off' ],
	[ 'omenhnsw.iterative_scan' => 'relaxed_order' ],
	[ 'omenhnsw.ef_search' => '10' ],
	[ 'omenhnsw.max_scan_tuples' => '2000000000' ],
	[ work_mem => "'256MB'" ]);

# Creates the extension, the cluster centres, rand_vec(), knn_check(),
# index_finds(), the query table q and the empty table t.
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
-- Whether an index search for row rid's own vector returns the row.
CREATE FUNCTION index_finds(rid bigint) RETURNS bool LANGUAGE sql STABLE
@{[ join("\n", map { "SET $_->[0] = $_->[1]" } @self_settings) ]}
AS \$\$ SELECT ($self_search) IS NOT NULL \$\$;
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

# Builds index t_v_idx on t (m 16, ef_construction 64); checks that the
# verifier is clean and that the KNN queries of the load tests scan it.
sub t_index
{
	my ($node) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$node->safe_psql('postgres',
		'CREATE INDEX t_v_idx ON t USING omenhnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64)'
	);
	verify_clean($node, 't_v_idx', 'verifier is clean after the bulk build');
	knn_uses_index($node, 't_v_idx');
	return;
}

my $knn_settings = 'SET enable_sort = off;';

# The KNN subqueries of self_reach and t_recall must be index scans
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
sub t_recall
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

# Dies unless index_finds() searches index $index: its query, planned with
# its settings as a SQL function's query is, for any value of $1.
sub index_finds_uses
{
	my ($node, $index) = @_;
	my $plan = $node->safe_psql(
		'postgres', join('', map { "SET $_->[0] = $_->[1];\n" } @self_settings)
		  . qq{SET plan_cache_mode = force_generic_plan;
PREPARE self_search(bigint) AS $self_search;
EXPLAIN (COSTS OFF) EXECUTE self_search(1);});
	die "index_finds() does not scan $index:\n$plan"
	  unless $plan =~ /Index Scan using $index on t b/;
	return;
}

# Ids of the rows of t matching $where that index $index does not return for
# their own vector (index_finds), however far its search has to go.
sub unfound_rows
{
	my ($node, $index, $where) = @_;
	index_finds_uses($node, $index);
	return split /\n/,
	  $node->safe_psql('postgres',
		"SELECT id FROM t WHERE ($where) AND NOT index_finds(id) ORDER BY id");
}

# ids and distances of the 10 nearest rows of t for each query vector of q.
my $knn_q = q{SET enable_sort = off; SET omenhnsw.ef_search = 100;
SELECT q.qid, s.id, s.d FROM q, LATERAL
  (SELECT id, v <-> q.v AS d FROM t ORDER BY v <-> q.v LIMIT 10) s
ORDER BY q.qid, s.d, s.id};

# Once $standby has replayed all of $primary's WAL: KNN queries return the
# same ids and distances on both, and index $index verifies clean on both.
sub standby_ok
{
	my ($primary, $standby, $index, $when) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	$primary->wait_for_catchup($standby);
	my $on_primary = $primary->safe_psql('postgres', $knn_q);
	my $on_standby = $standby->safe_psql('postgres', $knn_q);
	ok($on_primary ne '' && $on_primary eq $on_standby,
		"$when: KNN results are identical on primary and standby");
	verify_clean($primary, $index, "$when: verifier is clean on the primary");
	verify_clean($standby, $index, "$when: verifier is clean on the standby");
	return;
}

# ---- load ----

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

# Starts one psql inserting rows into t one by one, up to 100,000, in
# autocommit mode: the ids it prints are the rows the server acknowledged as
# committed.
sub acked_start
{
	my ($node, $tag) = @_;
	my $file = $node->basedir . "/$tag-acked.sql";
	open my $fh, '>', $file or die "cannot write $file: $!";
	print $fh "INSERT INTO t (v) VALUES (rand_vec(" . (1 + $_ % 20)
	  . ")) RETURNING id;\n"
	  for 1 .. 100_000;
	close $fh;
	my %psql = (out => '', err => '');
	$psql{run} = IPC::Run::start(
		[
			'psql', '-X', '-q', '-A', '-t', '-h', $node->host,
			'-p', $node->port, '-d', 'postgres', '-f', $file
		],
		'>', \$psql{out}, '2>', \$psql{err});
	return \%psql;
}

# Waits for a psql of acked_start (which ends when the server goes away, or
# after its last insert); returns the acknowledged ids.
sub acked_finish
{
	my ($psql) = @_;
	$psql->{run}->finish;
	return [ $psql->{out} =~ /^(\d+)$/mg ];
}

# Passes when every id of @$acked is a row of t.
sub acked_present_ok
{
	my ($node, $acked, $when) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my $missing = $node->safe_psql('postgres',
		    "SELECT count(*) FROM unnest('{"
		  . join(',', @$acked)
		  . "}'::bigint[]) a(id) WHERE NOT EXISTS (SELECT 1 FROM t WHERE t.id = a.id)"
	);
	is($missing, 0,
		"$when: all " . scalar(@$acked) . ' acknowledged inserts are in the table');
	return;
}

1;
