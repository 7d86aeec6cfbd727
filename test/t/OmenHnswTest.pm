# Helpers shared by the omenhnsw TAP tests: cluster set-up, index builds that
# report their NOTICEs, exact ground truth and recall measured by the server.
package OmenHnswTest;

use strict;
use warnings FATAL => 'all';

use Exporter 'import';
use IO::Uncompress::Gunzip qw($GunzipError);
use PostgreSQL::Test::Cluster;
use Test::More;
use Time::HiRes qw(usleep);

our @EXPORT = qw(start_node run_sql build_index watch_build segment_count
  make_clustered ground_truth recall_at write_idx_images);

# A started cluster with the extension created in database "postgres".
sub start_node
{
	my ($name, @conf) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		join("\n", 'shared_buffers = 256MB', 'log_statement = none', @conf)
		  . "\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION omendb');
	return $node;
}

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

1;
