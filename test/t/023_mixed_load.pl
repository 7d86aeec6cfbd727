# Mixed load on an omenhnsw index: 4 pgbench clients run inserts, deletes,
# updates of the vector and KNN queries (whose results must come in true
# distance order) while another client runs VACUUM in a loop, for
# OMEN_MIXED_SECONDS (default 60) seconds.  Nothing may fail, the server log
# must stay free of errors and crashes, and afterwards the verifier must be
# clean and the rows findable.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $seconds = $ENV{OMEN_MIXED_SECONDS} || 60;
my $rows = 5000;

my $node = omen_node('mixed');
omen_setup($node);
omen_load($node, $rows, 0.23);
t_index($node);
my $log_offset = -s $node->logfile;

# A random live row: the first id at or above a random point of the id range.
my $random_id = '(SELECT id FROM t WHERE id >= '
  . '(SELECT (random() * max(id))::bigint FROM t) ORDER BY id LIMIT 1)';
my $load = pgbench_start(
	$node, 'mixed',
	{
		'insert@5' => "\\set c random(1, 20)\n"
		  . "INSERT INTO t (v) VALUES (rand_vec(:c));\n",
		'delete@2' => "DELETE FROM t WHERE id = $random_id;\n",
		'update@1' => "\\set c random(1, 20)\n"
		  . "UPDATE t SET v = rand_vec(:c) WHERE id = $random_id;\n",
		'knn@3' => "\\set c random(1, 20)\n"
		  . "SELECT knn_check(rand_vec(:c), 10, false);\n",
		# iterative scans resume their searches between rows while
		# inserts, deletes and VACUUM change the graph
		'filtered@1' => "\\set c random(1, 20)\n"
		  . "SET enable_seqscan = off;\n"
		  . "SELECT count(*) FROM (SELECT id FROM t WHERE id % 50 = 7 "
		  . "ORDER BY v <-> rand_vec(:c) LIMIT 10) s;\n",
	},
	'-c', 4, '-j', 2, '-T', $seconds);
my $vacuum = pgbench_start($node, 'vacuum',
	{ vacuum => "VACUUM t;\n\\sleep 500 ms\n" },
	'-c', 1, '-T', $seconds);

my ($rc, $out, $err) = pgbench_finish($load);
is($rc, 0, 'the mixed load runs without errors') or diag($err);
note('mixed load: ' . pgbench_tps($out) . ' transactions/s');
($rc, $out, $err) = pgbench_finish($vacuum);
is($rc, 0, 'the VACUUM loop runs without errors') or diag($err);
like($out, qr/processed: [1-9]/, 'VACUUM ran during the load');
note('VACUUM loop: ' . ($out =~ /processed: (\d+)/ ? $1 : '?') . ' runs');

verify_clean($node, 't_v_idx', 'verifier is clean after the load');
$node->safe_psql('postgres', 'VACUUM t');
verify_clean($node, 't_v_idx', 'verifier is clean after a last VACUUM');

# About 5000 rows, however many the load left.
my $every = int($node->safe_psql('postgres', 'SELECT count(*) FROM t') / 5000) || 1;
my ($found, $checked) = self_reach($node, "a.id % $every = 0", 200, 3);
note(sprintf('self-query reach at ef_search=200: %d of %d (%.2f%%)',
		$found, $checked, 100 * $found / $checked));
cmp_ok($found, '>=', 0.95 * $checked, 'at least 95% of sampled rows find themselves');
# VACUUM rewrites the links of live nodes around the deleted ones, and
# descents route through deleted nodes into the query's region
cmp_ok($found, '>=', 0.999 * $checked,
	'at least 99.9% of sampled rows find themselves');
my $recall = t_recall($node, 200, 10);
note("recall\@10 at ef_search=200: $recall");
cmp_ok($recall, '>=', 0.95, 'recall@10 >= 0.95 at ef_search=200');

log_clean_ok($node, $log_offset, 'server log has no errors or crashes');
$node->stop;
done_testing();
