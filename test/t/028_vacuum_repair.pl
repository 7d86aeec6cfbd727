# VACUUM repairs the graph around the nodes it deletes: the live
# neighbours of a deleted node get new lists, chosen as an insert chooses
# them, and a deleted entry point is replaced.  After 40% of a clustered
# table is deleted and vacuumed, searches at a small ef_search on a sparse
# graph (m 4) must find the remaining rows about as well as a fresh build
# of the same rows (REINDEX) does: recall@10 within 0.03 and self-reach
# within 5 points.  The repaired graph depends on the order VACUUM meets
# the nodes in, which is the rows' order on the pages, so the bounds leave
# room for any order.  Without the repair, deleted nodes crowd the searches
# and both fall far further behind.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $ef = 10;
my $node = omen_node('repair', conf => 'autovacuum = off');
omen_setup($node, dim => 48, noise => 1.6);
omen_load($node, 8000, 0.31);
$node->safe_psql('postgres',
	'CREATE INDEX t_v_idx ON t USING omenhnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16)'
);
knn_uses_index($node, 't_v_idx');
my $log_offset = -s $node->logfile;

$node->safe_psql('postgres',
	'DELETE FROM t WHERE abs(hashint8(id)) % 5 < 2; VACUUM t');
verify_clean($node, 't_v_idx', 'verifier is clean after deleting 40%');
my $recall = t_recall($node, $ef, 10);
my ($found, $checked) = self_reach($node, 'true', $ef, 1);

# the same rows in a fresh build
$node->safe_psql('postgres', 'REINDEX INDEX t_v_idx');
my $recall_fresh = t_recall($node, $ef, 10);
my ($found_fresh) = self_reach($node, 'true', $ef, 1);
note("ef_search $ef, after VACUUM / after REINDEX: recall\@10 $recall / "
	  . "$recall_fresh, self-reach $found / $found_fresh of $checked");

cmp_ok($recall, '>=', $recall_fresh - 0.03,
	'recall@10 after VACUUM is within 0.03 of a fresh build');
cmp_ok($found, '>=', $found_fresh - int($checked / 20),
	'self-reach after VACUUM is within 5% of a fresh build');

log_clean_ok($node, $log_offset, 'server log has no errors or crashes');
$node->stop;
done_testing();
