# An omenhnsw index on a streaming standby.  The primary sets
# wal_consistency_checking = 'all' (the standby inherits it through the base
# backup), so the standby compares every page it replays with the image the
# primary logged.  After the bulk build and after each of 10 rounds of
# delete / VACUUM / insert on the primary, KNN queries must return the same
# ids and distances on both nodes, and the verifier must be clean on both.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenDurTest;
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
$primary->backup('base');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'base', has_streaming => 1);
$standby->start;
my $standby_offset = -s $standby->logfile;
is($standby->safe_psql('postgres', 'SHOW wal_consistency_checking'),
	'all', 'the standby checks the consistency of every replayed page');

# Everything, the extension included, reaches the standby through WAL.
omen_setup($primary);
omen_load($primary, $rows, 0.25);
$primary->safe_psql('postgres',
	'CREATE INDEX t_v_idx ON t USING omenhnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64)'
);
knn_uses_index($primary, 't_v_idx');

# ids and distances of the 10 nearest rows for each query vector of q.
my $knn = q{SET enable_sort = off; SET omenhnsw.ef_search = 100;
SELECT q.qid, s.id, s.d FROM q, LATERAL
  (SELECT id, v <-> q.v AS d FROM t ORDER BY v <-> q.v LIMIT 10) s
ORDER BY q.qid, s.d, s.id};

sub compare_nodes
{
	my ($when) = @_;
	$primary->wait_for_catchup($standby);
	my $on_primary = $primary->safe_psql('postgres', $knn);
	my $on_standby = $standby->safe_psql('postgres', $knn);
	ok($on_primary ne '' && $on_primary eq $on_standby,
		"$when: KNN results are identical on primary and standby");
	verify_clean($primary, 't_v_idx', "$when: verifier is clean on the primary");
	verify_clean($standby, 't_v_idx', "$when: verifier is clean on the standby");
	return;
}

compare_nodes('after the bulk build');
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
	compare_nodes("round $round");
}

log_clean_ok($standby, $standby_offset,
	'standby log has no inconsistent page, error or crash');
$standby->stop;
$primary->stop;
done_testing();
