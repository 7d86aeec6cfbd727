# Searches route through deleted nodes: after VACUUM leaves only a few rows
# in half of the clusters of a clustered table, the upper levels there hold
# deleted nodes almost only.  A descent that stepped to the closest live
# node of each level went to another cluster, from which the search of
# level 0 did not come back, and a tenth or more of those rows did not find
# themselves; one that counts the deleted nodes as the nodes they are
# stays in the query's cluster.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = omen_node('thin', conf => 'autovacuum = off');
omen_setup($node);
omen_load($node, 10000, 0.23);
t_index($node);
my $log_offset = -s $node->logfile;

# row g of the load is in cluster 1 + g % 20: clusters 1 to 10 keep 1 row
# in 50, then 1 in 200
for my $keep (500, 2000)
{
	$node->safe_psql('postgres',
		"DELETE FROM t WHERE id % 20 < 10 AND id % $keep >= 10; VACUUM t");
	verify_clean($node, 't_v_idx', "verifier is clean keeping 10 in $keep");
	my ($found, $checked) = self_reach($node, 'id % 20 < 10', 40, 1);
	note("keeping 10 rows in $keep of clusters 1 to 10: $found of $checked "
		  . 'find themselves at ef_search 40');
	cmp_ok($found, '>=', $checked - 1,
		"the rows left in the thinned clusters find themselves ($keep)");
}

log_clean_ok($node, $log_offset, 'server log has no errors or crashes');
$node->stop;
done_testing();
