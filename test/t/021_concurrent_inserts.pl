# Concurrent single-row inserts into a bulk-built omenhnsw index: 20 rounds of
# pgbench with 4 clients inserting clustered random vectors.  Afterwards every
# row must be found by a query for its own vector, recall@10 must hold against
# an exact search, and the verifier must report nothing.  Then 8 clients fill
# an empty index (m 4), a third of their rows copies of five vectors: inserts
# search while others create the segment, move its entry point, add nodes
# the search did not see and take copies into their nodes; the verifier must
# report nothing and every row must be found by a search for its own
# vector.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 10_000;
my $rounds = 20;
my $clients = 4;
my $per_client = 50;

my $node = omen_node('inserts');
omen_setup($node);
omen_load($node, $rows, 0.21);
t_index($node);

my $log_offset = -s $node->logfile;
my $script = "\\set c random(1, 20)\nINSERT INTO t (v) VALUES (rand_vec(:c));\n";
my $per_round = $clients * $per_client;
my @tps;
for my $round (1 .. $rounds)
{
	my ($rc, $out, $err) = pgbench_finish(
		pgbench_start(
			$node, "round$round", { insert => $script },
			'-c', $clients, '-j', 2, '-t', $per_client));
	is($rc, 0, "round $round: pgbench succeeds") or diag($err);
	like($out, qr{processed: $per_round/$per_round},
		"round $round: all $per_round inserts done");
	push @tps, pgbench_tps($out);
	verify_clean($node, 't_v_idx', "round $round: verifier is clean");
}
note("insert rows/s per round (4 clients): @tps");

my $total = $rows + $rounds * $per_round;
is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	$total, "table holds $total rows");

# Every inserted row and a tenth of the bulk-built ones.
my $sample = "a.id > $rows OR a.id % 10 = 0";
my ($found, $checked) = self_reach($node, $sample, 200, 3);
my $pct = 100 * $found / $checked;
note(sprintf('self-query reach at ef_search=200: %d of %d (%.2f%%)',
		$found, $checked, $pct));
cmp_ok($pct, '>=', 99.7, 'at least 99.7% of sampled rows find themselves');
($found, $checked) = self_reach($node, "a.id > $rows", 200, 3);
note("inserted rows that find themselves: $found of $checked");

my $recall = t_recall($node, 200, 10);
note("recall\@10 at ef_search=200: $recall; at 40: " . t_recall($node, 40, 10));
cmp_ok($recall, '>=', 0.95, 'recall@10 >= 0.95 at ef_search=200');

knn_check_ok($node, 'SELECT v FROM q', 10,
	'KNN results are complete and in distance order');
verify_clean($node, 't_v_idx', 'verifier is clean at the end');

$node->safe_psql(
	'postgres', q{
CREATE TABLE e (id bigserial PRIMARY KEY, v vector(32));
CREATE INDEX e_v_idx ON e USING omenhnsw (v vector_l2_ops)
	WITH (m = 4, ef_construction = 16);});
my ($rc, $out, $err) = pgbench_finish(
	pgbench_start(
		$node, 'empty',
		{
			insert => "\\set c random(1, 20)\n\\set d random(1, 15)\n"
			  . "INSERT INTO e (v) SELECT CASE WHEN :d <= 5 "
			  . "THEN (SELECT v FROM q WHERE qid = :d) ELSE rand_vec(:c) END;\n"
		},
		'-c', 2 * $clients, '-j', 2, '-t', 150));
is($rc, 0, 'inserts into an empty index succeed') or diag($err);
verify_clean($node, 'e_v_idx', 'verifier is clean after filling an empty index');
is( $node->safe_psql(
		'postgres', q{
SET enable_seqscan = off;
SET omenhnsw.ef_search = 400;
SET omenhnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM e a
WHERE a.id NOT IN (SELECT b.id FROM e b ORDER BY b.v <-> a.v LIMIT 400)}),
	'0', 'every row of the filled index is found by a search for its vector');
log_clean_ok($node, $log_offset, 'server log has no errors');

$node->stop;
done_testing();
