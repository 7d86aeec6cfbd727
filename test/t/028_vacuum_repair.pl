# VACUUM repairs the graph around the nodes it deletes: the live
# neighbours of a deleted node get new lists, chosen as an insert chooses
# them, and a deleted entry point is replaced.  After 40% of a clustered
# table is deleted and vacuumed, searches at a small ef_search on a sparse
# graph (m 4) must find the remaining rows about as well as a fresh build
# of the same rows (REINDEX) does: recall@10 within 0.03 and self-reach
# within 5 points.  The repaired graph depends on the order VACUUM meets
# the nodes in, which is the rows' order on the pages, so the bounds leave
# room for any order.  Without the repair, deleted nodes crowd the searches
# and both fall far further behind.  Then inserts into small tables after
# most of each is deleted.
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

# After 90% of a small table is deleted and vacuumed, the deleted nodes may
# form a component of their own that leads to no live node, where a descent
# for a new row ends: inserts must still find neighbours (and not crash),
# and every live node stay reachable.  1,000 seeded cases of 50 rows, 1 to 3
# dimensions (8 to 24 bits), m = 2, every vector operator class and the
# other types' too: 10% deleted, VACUUM, 90% of the rest deleted, VACUUM,
# 15 rows inserted, omenhnsw_verify.
my $cases = "CREATE TABLE del_problems (c int, opc text, problem text);\n";
my @kinds = (
	[ 'vector', 'vector_l1_ops' ],
	[ 'vector', 'vector_l2_ops' ],
	[ 'vector', 'vector_cosine_ops' ],
	[ 'vector', 'vector_ip_ops' ],
	[ 'halfvec', 'halfvec_l2_ops' ],
	[ 'halfvec', 'halfvec_cosine_ops' ],
	[ 'halfvec', 'halfvec_l1_ops' ],
	[ 'sparsevec', 'sparsevec_l2_ops' ],
	[ 'sparsevec', 'sparsevec_ip_ops' ],
	[ 'sparsevec', 'sparsevec_cosine_ops' ],
	[ 'bit', 'bit_hamming_ops' ],
	[ 'bit', 'bit_jaccard_ops' ]);
for my $c (1 .. 1000)
{
	my $d = 1 + $c % 3;
	my ($type, $opc) =
	  @{ $c <= 500 ? $kinds[ $c % 4 ] : $kinds[ 4 + $c % 8 ] };
	my $bits = 8 * $d;
	my ($coltype, $vec) =
	  $type eq 'bit'
	  ? ("bit($bits)",
		"(SELECT string_agg(CASE WHEN random() < 0.5 THEN '1' ELSE '0' END, '') FROM generate_series(1, $bits) WHERE i > 0)::bit($bits)"
	  )
	  : ("$type($d)",
		"(SELECT array_agg(round((random() * 10 - 5)::numeric, 2)) FROM generate_series(1, $d) WHERE i > 0)::vector::$type($d)"
	  );
	$cases .= qq{
DROP TABLE IF EXISTS dc;
CREATE TABLE dc (id int, v $coltype) WITH (autovacuum_enabled = off);
SELECT setseed($c / 1000.0);
INSERT INTO dc SELECT i, $vec FROM generate_series(1, 50) i;
CREATE INDEX dc_idx ON dc USING omenhnsw (v $opc) WITH (m = 2, ef_construction = 64);
DELETE FROM dc WHERE random() < 0.1;
VACUUM dc;
DELETE FROM dc WHERE random() < 0.9;
VACUUM dc;
INSERT INTO dc SELECT i, $vec FROM generate_series(51, 65) i;
INSERT INTO del_problems SELECT $c, '$opc', p FROM omenhnsw_verify('dc_idx') p;
};
}
run_sql($node, $cases);
my ($dproblems) = run_sql($node,
	q{SELECT count(DISTINCT c) || ' ' || coalesce(min(c || ' ' || opc || ': ' || problem), '')
	  FROM del_problems});
like($dproblems, qr/^0 /,
	'1,000 small tables of every type, 90% deleted and vacuumed, then inserts: every live node reachable'
	  . " (cases with problems, first: $dproblems)");

log_clean_ok($node, $log_offset, 'server log has no errors or crashes');
$node->stop;
done_testing();
