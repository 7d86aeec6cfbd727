# Concurrent inserts and scans on an omenhnsw index.  Four pgbench clients
# insert rows one by one, and each, right after its insert commits, searches
# the index for the new row's vector and must get the row back, while two
# more clients run KNN queries (complete, in distance order) and filtered
# iterative scans.  Then no row is missing from the table, the index returns
# every row for its own vector, the verifier is clean and recall@10 holds
# against an exact search.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 5000;
my $inserters = 4;
my $per_inserter = 400;
my $scanners = 2;
my $per_scanner = 500;

my $node = omen_node('insert_scan');
omen_setup($node);
omen_load($node, $rows, 0.27);
t_index($node);
my $log_offset = -s $node->logfile;

# Raises unless an index search for row rid's own vector returns the row.
index_finds_uses($node, 't_v_idx');
$node->safe_psql(
	'postgres', q{
CREATE FUNCTION must_find(rid bigint) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  IF NOT index_finds(rid) THEN
    RAISE EXCEPTION 'must_find: the index does not return row %', rid;
  END IF;
END $$;
});

my $inserts = pgbench_start(
	$node, 'inserts',
	{
		insert => "\\set c random(1, 20)\n"
		  . "INSERT INTO t (v) VALUES (rand_vec(:c)) RETURNING id \\gset\n"
		  . "SELECT must_find(:id);\n"
	},
	'-c', $inserters, '-j', 2, '-t', $per_inserter);
my $scans = pgbench_start(
	$node, 'scans',
	{
		'knn@2' => "\\set c random(1, 20)\n"
		  . "SELECT knn_check(rand_vec(:c), 10);\n",
		'filtered@1' => "\\set c random(1, 20)\n"
		  . "SET enable_seqscan = off;\n"
		  . "SELECT count(*) FROM (SELECT id FROM t WHERE id % 50 = 7 "
		  . "ORDER BY v <-> rand_vec(:c) LIMIT 10) s;\n",
	},
	'-c', $scanners, '-t', $per_scanner);

my ($rc, $out, $err) = pgbench_finish($inserts);
my $total = $inserters * $per_inserter;
is($rc, 0,
	'every insert committed and its row was then returned by the index')
  or diag($err);
like($out, qr{processed: $total/$total}, "all $total inserts done");
note('inserts: ' . pgbench_tps($out) . ' rows/s');
($rc, $out, $err) = pgbench_finish($scans);
is($rc, 0,
	'KNN queries during the inserts got complete results in distance order')
  or diag($err);
note('scans: ' . pgbench_tps($out) . ' queries/s');

is($node->safe_psql('postgres', 'SELECT count(*) FROM t'),
	$rows + $total, 'no row is missing from the table');
verify_clean($node, 't_v_idx', 'verifier is clean after the load');
my @unfound = unfound_rows($node, 't_v_idx', 'true');
is(scalar(@unfound), 0, 'every row is returned by a search for its own vector')
  or diag('rows not returned: ' . join(' ', @unfound));
my $recall = t_recall($node, 100, 10);
cmp_ok($recall, '>=', 0.95, "recall\@10 = $recall at ef_search 100");
my ($found, $checked) = self_reach($node, "a.id > $rows", 100, 3);
cmp_ok($found, '>=', 0.997 * $checked,
	"at least 99.7% of the inserted rows are among the 3 first results for their own vector ($found of $checked)"
);

log_clean_ok($node, $log_offset, 'server log has no errors');
$node->stop;
done_testing();
