# An omenhnsw index on a streaming standby.  The primary sets
# wal_consistency_checking = 'all' (the standby inherits it through the base
# backup), so the standby compares every page it replays with the image the
# primary logged.  After the bulk build, after a parallel rebuild (whose
# worker logs the vector pages it fills) and after each of 10 rounds of
# delete / VACUUM / insert on the primary, KNN queries must return the same
# ids and distances on both nodes, and the verifier must be clean on both.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 5000;
my $rounds = 10;

my $primary = omen_node(
	'primary',
	allows_streaming => 1,
	conf => q{
wal_consistency_checking = 'all'
autovacuum = off
});
my $standby = omen_standby($primary, 'standby');
my $standby_offset = -s $standby->logfile;
is($standby->safe_psql('postgres', 'SHOW wal_consistency_checking'),
	'all', 'the standby checks the consistency of every replayed page');

# Everything, the extension included, reaches the standby through WAL.
omen_setup($primary);
omen_load($primary, $rows, 0.25);
t_index($primary);

standby_ok($primary, $standby, 't_v_idx', 'after the bulk build');

# A parallel build: each participant WAL-logs the vector pages it fills, the
# leader the rest at the end.
my $notices = build_index(
	$primary, q{
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = 0;
SET client_min_messages = debug1;},
	'REINDEX INDEX t_v_idx');
like($notices, qr/using 1 parallel workers/, 'the rebuild launched a worker');
my ($worker) = $notices =~ /worker processed (\d+) tuples/;
ok(defined $worker && $worker > 0, 'the worker inserted rows');
standby_ok($primary, $standby, 't_v_idx', 'after a parallel rebuild');
for my $round (1 .. $rounds)
{
	# Delete about a fifth of the rows, chosen differently each round.
	$primary->safe_psql(
		'postgres', qq{
DELETE FROM t WHERE hashint8(id + $round) % 5 = 0;
VACUUM t;
SELECT setseed(0.$round);
INSERT INTO t (v) SELECT rand_vec(1 + g % 20) FROM generate_series(1, 500) g;
});
	standby_ok($primary, $standby, 't_v_idx', "round $round");
}

log_clean_ok($standby, $standby_offset,
	'standby log has no inconsistent page, error or crash');
$standby->stop;
$primary->stop;
done_testing();
