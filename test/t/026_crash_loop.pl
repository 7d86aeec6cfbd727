# A kill -9 loop: OMEN_CRASH_ROUNDS (default 20) rounds, each of which puts
# load on an omenhnsw index and kills the server (the postmaster and every
# backend, SIGKILL) at a random moment.  The rounds take turns: single-row
# inserts; inserts, deletes and VACUUM at once; a throttled VACUUM of many
# deleted rows while inserts go on; CREATE INDEX CONCURRENTLY of a second
# index while inserts go on.  wal_consistency_checking compares every index
# page (generic WAL) that crash recovery and a streaming standby replay with
# its image.  After each restart: every insert the server acknowledged is in
# the table, every row of the table is returned by an index search for its
# own vector, recall@10 holds against an exact search, the verifier finds
# nothing wrong before and after a VACUUM, and
# the standby, once it has replayed the same WAL, verifies clean and returns
# the same neighbours.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $rounds = $ENV{OMEN_CRASH_ROUNDS} || 20;
my $rows = 3000;
my $seed = $ENV{OMEN_CRASH_SEED} || time;
srand($seed);
note("crash moments drawn with seed $seed (OMEN_CRASH_SEED)");

# A busy WAL writer makes the records of an insert still in progress durable
# sooner, so that a crash can catch an index between two records.
my $primary = omen_node(
	'primary',
	allows_streaming => 1,
	conf => q{
wal_writer_delay = 10ms
wal_writer_flush_after = 0
wal_consistency_checking = 'generic'
wal_retrieve_retry_interval = 100ms
autovacuum = off
});
my $standby = omen_standby($primary, 'standby');
my $standby_offset = -s $standby->logfile;

# Everything, the extension included, reaches the standby through WAL.
omen_setup($primary);
omen_load($primary, $rows, 0.26);
t_index($primary);
standby_ok($primary, $standby, 't_v_idx', 'after the bulk build');

my $insert = "\\set c random(1, 20)\nINSERT INTO t (v) VALUES (rand_vec(:c));\n";

# A background psql running the statements @sql one by one; its output is
# of no interest.
sub psql_start
{
	my ($node, @sql) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[
			'psql', '-X', '-h', $node->host, '-p', $node->port,
			'-d', 'postgres', map { ('-c', $_) } @sql
		],
		'>', \$out, '2>', \$err);
}

# Inserts by $clients clients, at most $rate a second in all if given.
sub inserts_start
{
	my ($tag, $clients, $rate) = @_;
	return pgbench_start($primary, $tag, { insert => $insert },
		'-c', $clients, '-T', 60, defined $rate ? ('-R', $rate) : ())->{run};
}

# Each kind of round starts its load.  It gets the round's name and the
# highest id before the round (deletes take rows up to that one only, so
# that the round's acknowledged inserts stay), and returns a query that is
# true once the load is under way, and the clients to wait for once the
# server is gone.
my %load = (
	inserts => sub {
		my ($tag, $last) = @_;
		return ('SELECT max(id) > ' . ($last + 50) . ' FROM t',
			inserts_start($tag, 3));
	},
	churn => sub {
		my ($tag, $last) = @_;
		# a random earlier row: the first id at or above a random point
		my $delete = "DELETE FROM t WHERE id = (SELECT id FROM t WHERE id >= "
		  . "(random() * $last)::bigint AND id <= $last ORDER BY id LIMIT 1);\n";
		return (
			'SELECT max(id) > ' . ($last + 50) . ' FROM t',
			pgbench_start(
				$primary, $tag,
				{ 'insert@3' => $insert, 'delete@2' => $delete },
				'-c', 3, '-T', 60)->{run},
			pgbench_start($primary, "$tag-vacuum",
				{ vacuum => "VACUUM t;\n\\sleep 200 ms\n" },
				'-c', 1, '-T', 60)->{run});
	},
	vacuum => sub {
		my ($tag, $last) = @_;
		# about half of the rows go; the VACUUM is slowed down so that the
		# crash can catch it in its index phase, and the inserts meanwhile
		# are throttled so that the table, and with it the next VACUUM's
		# slowed heap phase, does not grow from round to round
		$primary->safe_psql('postgres',
			"DELETE FROM t WHERE hashint8(id) % 2 = 0 AND id <= $last");
		return (
			q{SELECT phase = 'vacuuming indexes' FROM pg_stat_progress_vacuum},
			psql_start(
				$primary, 'SET vacuum_cost_delay = 20',
				'SET vacuum_cost_limit = 1', 'VACUUM t'),
			inserts_start($tag, 2, 40));
	},
	build => sub {
		my ($tag, $last) = @_;
		return (
			'SELECT count(*) > 0 FROM pg_stat_progress_create_index',
			psql_start(
				$primary,
				"SET maintenance_work_mem = '1MB'",
				'CREATE INDEX CONCURRENTLY t_b_idx ON t USING omenhnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 128)'
			),
			inserts_start($tag, 2));
	});
my @kinds = qw(inserts churn vacuum build);

my $log_offset;
for my $round (1 .. $rounds)
{
	my $kind = $kinds[ ($round - 1) % @kinds ];
	my $when = "round $round ($kind)";
	my $last = $primary->safe_psql('postgres', 'SELECT max(id) FROM t');
	my ($going, @runs) = $load{$kind}->("round$round", $last);
	$primary->poll_query_until('postgres', $going)
	  or die "$when: the load did not get going";
	# once the load is under way, inserts whose acknowledgements are
	# recorded, and a random moment within 1.5 s; started earlier, they
	# would fill the table while a throttled VACUUM gets to its index phase
	my $acked = acked_start($primary, "round$round");
	usleep(int(rand(1_500_000)));
	my $doing = $primary->safe_psql(
		'postgres', q{
SELECT coalesce(string_agg(phase, ', '), 'none') FROM
	(SELECT 'vacuum: ' || phase AS phase FROM pg_stat_progress_vacuum
	 UNION ALL
	 SELECT 'build: ' || phase FROM pg_stat_progress_create_index) p});
	my $killed = crash_node($primary);
	$_->finish for @runs;
	my $ids = acked_finish($acked);
	note("$when: SIGKILL to the postmaster and $killed children;"
		  . " VACUUM and build phases just before: $doing");
	$log_offset //= -s $primary->logfile;
	$primary->start;

	# An index that CREATE INDEX CONCURRENTLY finished before the crash
	# verifies clean; it goes, finished or not, before the other checks.
	my $valid = $primary->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('t_b_idx')});
	verify_clean($primary, 't_b_idx',
		"$when: the index built concurrently verifies clean")
	  if $valid eq 't';
	$primary->safe_psql('postgres', 'DROP INDEX IF EXISTS t_b_idx');

	acked_present_ok($primary, $ids, $when);
	my @unfound = unfound_rows($primary, 't_v_idx', 'true');
	is(scalar(@unfound), 0,
		"$when: every row is returned by a search for its own vector")
	  or diag('rows not returned: '
		  . join(' ', @unfound[ 0 .. ($#unfound < 19 ? $#unfound : 19) ]));
	my $recall = t_recall($primary, 100, 10);
	cmp_ok($recall, '>=', 0.95, "$when: recall\@10 = $recall at ef_search 100");
	knn_check_ok($primary, 'SELECT v FROM q', 10,
		"$when: KNN results are complete and in distance order");

	# An insert's row and the first back-link to it are one WAL record, so
	# no crash leaves an element unreachable: the index verifies clean
	# before any VACUUM.
	verify_clean($primary, 't_v_idx', "$when: right after recovery the verifier is clean");
	$primary->safe_psql('postgres', 'VACUUM t');
	standby_ok($primary, $standby, 't_v_idx', "$when, then VACUUM");
}

# the standby connects while the primary is still recovering
log_clean_ok($primary, $log_offset,
	'primary log has no inconsistent page, error or crash since the first restart',
	qr/FATAL:  the database system is (?:starting up|not yet accepting connections)/);
# the standby's WAL receiver loses its primary every round
log_clean_ok($standby, $standby_offset,
	'standby log has no inconsistent page, error or crash',
	qr/FATAL:  could not (?:(?:receive data from|send data to) WAL stream|connect to the primary server)/);
$standby->stop;
$primary->stop;
done_testing();
