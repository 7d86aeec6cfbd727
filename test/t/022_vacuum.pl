# VACUUM of an omenhnsw index.  After 75% of the rows are deleted at random
# and vacuumed, and again after whole clusters are deleted, the index must
# still answer with full, correctly ordered results and good recall.  Then 5
# cycles of delete-all / VACUUM / reinsert: heap slots are reused by the new
# rows, so a stale index entry would surface as a result out of distance
# order; and the space of vacuumed elements must be reused, so the index may
# grow by at most 5%.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 10_000;
my $cycles = 5;

my $node = omen_node('vacuum', conf => 'autovacuum = off');
omen_setup($node);
omen_load($node, $rows, 0.22);
t_index($node);
my $log_offset = -s $node->logfile;

# Delete 75% at random, keeping the deleted vectors as queries.
$node->safe_psql(
	'postgres', q{
CREATE TABLE gone AS SELECT id, v FROM t WHERE hashint8(id) % 4 <> 0;
DELETE FROM t WHERE hashint8(id) % 4 <> 0;
VACUUM t;
});
my $live = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
note("$live rows left");
verify_clean($node, 't_v_idx', 'verifier is clean after deleting 75%');

my $recall = t_recall($node, 100, 10);
note("recall\@10 of the remaining rows at ef_search=100: $recall; at 40: "
	  . t_recall($node, 40, 10));
cmp_ok($recall, '>=', 0.95, 'recall@10 >= 0.95 at ef_search=100');
knn_check_ok($node, 'SELECT v FROM gone WHERE id % 20 = 1', 10,
	'queries at deleted vectors get full, ordered results');
my ($found, $checked) = self_reach($node, 'true', 200, 3);
is($found, $checked, 'every remaining row finds itself')
  or note("$found of $checked rows find themselves");

# Row g of the load was drawn around cluster 1 + g % 20: delete every row of
# clusters 1 to 5, so that the neighbourhood of their queries is all dead.
$node->safe_psql('postgres', 'DELETE FROM t WHERE id % 20 < 5; VACUUM t');
$live = $node->safe_psql('postgres', 'SELECT count(*) FROM t');
verify_clean($node, 't_v_idx', 'verifier is clean after deleting 5 clusters');
knn_check_ok($node, 'SELECT v FROM q WHERE qid % 20 < 5', 10,
	'queries in the emptied clusters still get full, ordered results');
($found, $checked) = self_reach($node, 'true', 200, 3);
is($found, $checked, 'every remaining row still finds itself')
  or note("$found of $checked rows find themselves");

my $size0 = $node->safe_psql('postgres', "SELECT pg_relation_size('t_v_idx')");
my @sizes;
for my $cycle (1 .. $cycles)
{
	# Only this cycle's deleted rows are queries, so each check sees the
	# vectors whose heap slots the new rows may now occupy.
	$node->safe_psql(
		'postgres', qq{
TRUNCATE gone;
INSERT INTO gone SELECT id, v FROM t;
DELETE FROM t;
VACUUM t;
SELECT setseed(0.$cycle);
INSERT INTO t (v) SELECT rand_vec(1 + g % 20) FROM generate_series(1, $live) g;
});
	push @sizes, $node->safe_psql('postgres', "SELECT pg_relation_size('t_v_idx')");
	verify_clean($node, 't_v_idx', "cycle $cycle: verifier is clean");
	knn_check_ok($node, 'SELECT v FROM gone WHERE id % 10 = 0', 10,
		"cycle $cycle: queries at the deleted vectors get full, ordered results");
	($found, $checked) = self_reach($node, 'true', 200, 3);
	cmp_ok($found, '>=', 0.997 * $checked,
		"cycle $cycle: at least 99.7% of the rows find themselves")
	  or note("$found of $checked rows find themselves");
}
$recall = t_recall($node, 100, 10);
note("recall\@10 after the cycles at ef_search=100: $recall");
cmp_ok($recall, '>=', 0.95, 'recall@10 >= 0.95 after the cycles');

my $growth = 100 * ($sizes[-1] - $size0) / $size0;
note(sprintf('index size %d before the cycles, then %s; growth %.1f%%',
		$size0, join(' ', @sizes), $growth));
cmp_ok($growth, '<=', 5, 'the index grows by at most 5% over the cycles');

log_clean_ok($node, $log_offset, 'server log has no errors');
$node->stop;
done_testing();
