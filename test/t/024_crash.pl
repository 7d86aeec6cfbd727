# Crash recovery of an omenhnsw index.  The server and all its processes get
# SIGKILL three times during concurrent single-row inserts (the first time
# right after a bulk build that no checkpoint has covered), then during a
# VACUUM that runs while inserts go on.  After each restart every committed row must be found by a
# query for its own vector, queries must get full results in distance order
# (deleted rows cannot crowd them out), and the verifier must be clean; so
# too after the interrupted VACUUM is run again and after more inserts.
# wal_consistency_checking makes recovery compare every replayed page with
# its image.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

my $rows = 3000;

# A busy WAL writer makes the records of an insert still in progress durable
# sooner, so that a crash can catch an index between two records.
my $node = omen_node(
	'crash', conf => q{
wal_writer_delay = 10ms
wal_writer_flush_after = 0
wal_level = replica
wal_consistency_checking = 'generic'
autovacuum = off
});
omen_setup($node);
omen_load($node, $rows, 0.24);
t_index($node);

my $insert_script =
  "\\set c random(1, 20)\nINSERT INTO t (v) VALUES (rand_vec(:c));\n";

# Starts inserting: pgbench with 3 clients, and one psql whose printed ids
# are the rows the server acknowledged as committed.
sub start_inserts
{
	my ($tag) = @_;
	return (acked_start($node, $tag),
		pgbench_start($node, $tag, { insert => $insert_script }, '-c', 3, '-T', 600));
}

# Waits for the clients to notice the crash; returns the acknowledged ids.
sub finish_inserts
{
	my ($psql, $bench) = @_;
	pgbench_finish($bench);
	return acked_finish($psql);
}

sub check_index
{
	my ($when, $acked) = @_;
	acked_present_ok($node, $acked, $when) if $acked;
	my ($found, $checked) = self_reach($node, 'true', 200, 3);
	is($found, $checked, "$when: every row finds itself ($checked rows)");
	knn_check_ok($node, 'SELECT v FROM q', 10,
		"$when: KNN results are complete and in distance order", 100);
	knn_check_ok($node, 'SELECT v FROM gone', 10,
		"$when: queries at deleted vectors get complete, ordered results", 100);
	# No crash leaves an element unreachable (an insert's row and the first
	# back-link to it are one WAL record): clean before and after VACUUM.
	verify_clean($node, 't_v_idx', "$when: verifier is clean right after recovery");
	$node->safe_psql('postgres', 'VACUUM t');
	verify_clean($node, 't_v_idx', "$when: verifier is clean after VACUUM");
	return;
}

$node->safe_psql('postgres', 'CREATE TABLE gone (id bigint, v vector)');

# Crashes 1 to 3: during inserts.  Where an insert is when it dies is down
# to chance, hence three of them.
my $log_offset;
for my $crash (1 .. 3)
{
	my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
	my ($psql, $bench) = start_inserts("crash$crash");
	$node->poll_query_until('postgres',
		'SELECT count(*) >= ' . ($count + 500) . ' FROM t')
	  or die 'the inserts did not get going';
	my $killed = crash_node($node);
	note("crash $crash during inserts: SIGKILL to the postmaster and $killed children");
	my $acked = finish_inserts($psql, $bench);
	$log_offset //= -s $node->logfile;
	$node->start;
	check_index("after crash $crash during inserts", $acked);
}

# Crash 4: during a throttled VACUUM, while inserts go on.
$node->safe_psql(
	'postgres', q{
INSERT INTO gone SELECT id, v FROM t WHERE hashint8(id) % 2 = 0;
DELETE FROM t WHERE hashint8(id) % 2 = 0;
});
my %vac = (out => '', err => '');
$vac{run} = IPC::Run::start(
	[
		'psql', '-X', '-h', $node->host, '-p', $node->port, '-d', 'postgres',
		'-c', 'SET vacuum_cost_delay = 20',
		'-c', 'SET vacuum_cost_limit = 1',
		'-c', 'VACUUM t'
	],
	'>', \$vac{out}, '2>', \$vac{err});
my ($psql, $bench) = start_inserts('crash4');
$node->poll_query_until('postgres',
	"SELECT phase = 'vacuuming indexes' FROM pg_stat_progress_vacuum")
  or die 'VACUUM did not reach its index phase';
usleep(700_000);
is( $node->safe_psql('postgres', 'SELECT phase FROM pg_stat_progress_vacuum'),
	'vacuuming indexes',
	'VACUUM is still vacuuming the index when the server is killed');
my $killed = crash_node($node);
note("crash during VACUUM: SIGKILL to the postmaster and $killed children");
my $acked = finish_inserts($psql, $bench);
$vac{run}->finish;
$node->start;
check_index('after the crash during VACUUM', $acked);

$node->safe_psql('postgres', 'VACUUM t');
check_index('after VACUUM completes');

omen_load($node, 1000);
check_index('after 1000 more inserts');

log_clean_ok($node, $log_offset, 'server log has no errors since the first restart');
$node->stop;
done_testing();
