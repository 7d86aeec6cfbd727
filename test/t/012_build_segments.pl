# omenhnsw indexes cut into segments by a small maintenance_work_mem: recall,
# inserts into the tail segment, VACUUM, TRUNCATE, REINDEX (plain and
# concurrent) and CREATE INDEX CONCURRENTLY with concurrent inserts keep the
# index sound (omenhnsw_verify) and its results right (recall@10 against exact
# ground truth; every inserted row is found by its own vector).  A parallel
# build whose row estimate is low overflows its shared graph into segments.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $k = 10;
my $min_recall = 0.95;
my $small_mem = "SET maintenance_work_mem = '1MB';";

my $node = omen_node('segments', extension => 1, conf => 'shared_buffers = 256MB');
make_clustered(
	$node,
	table => 'src',
	queries => 'q',
	n => 12000,
	nq => 100,
	dim => 64,
	clusters => 30,
	noise => 0.5,
	seed => 0.17);
run_sql($node, 'CREATE TABLE seg AS SELECT * FROM src WHERE id <= 11000');

sub check_index
{
	my ($what, $table, $index) = @_;
	$table //= 'seg';
	$index //= 'seg_idx';
	verify_clean($node, $index, "$what: omenhnsw_verify finds no problem");
	my %gt = (gt => 'gt', table => $table, queries => 'q', op => '<->', k => $k);
	ground_truth($node, %gt);
	recall_ok($node, %gt, index => $index, what => $what, min => $min_recall);
	return;
}

# How many rows of seg with id > $from the index finds by their own vector.
sub found_by_self
{
	my ($from) = @_;
	my $sql = qq{
SELECT count(*) FROM seg s
WHERE s.id > $from
	AND (SELECT t.v <-> s.v FROM seg t ORDER BY t.v <-> s.v LIMIT 1) = 0};
	my ($plan) = run_sql($node, "SET enable_seqscan = off; EXPLAIN (COSTS OFF) $sql");
	die "self-search does not use seg_idx:\n$plan"
	  unless $plan =~ /Index Scan using seg_idx on/;
	# a wide search: this checks that rows are findable, not recall
	my ($n) = run_sql($node,
		"SET enable_seqscan = off; SET omenhnsw.ef_search = 400; $sql");
	chomp $n;
	return $n;
}

my $notices = build_index($node, $small_mem,
	'CREATE INDEX seg_idx ON seg USING omenhnsw (v vector_l2_ops)');
my $nseg = segment_count($notices);
cmp_ok($nseg, '>=', 4, "1MB maintenance_work_mem: built as $nseg segments");
check_index('segmented build');

# single-row inserts go to the tail segment and are found
run_sql($node, 'INSERT INTO seg SELECT * FROM src WHERE id > 11000');
is(found_by_self(11000), 1000, 'all 1000 rows inserted after the build are found');
check_index('after inserts');

# VACUUM segment by segment
run_sql($node, q{
DELETE FROM seg WHERE (id / 30) % 10 < 2;
VACUUM seg;
});
my $live = $node->safe_psql('postgres', 'SELECT count(*) FROM seg');
is($node->safe_psql('postgres',
		q{SELECT reltuples FROM pg_class WHERE relname = 'seg_idx'}),
	$live, 'VACUUM leaves one index entry per live row');
check_index('after VACUUM');

# TRUNCATE empties the index; it is then filled by inserts alone
run_sql($node, 'TRUNCATE seg');
is( $node->safe_psql('postgres', q{
SET enable_seqscan = off;
SELECT count(*) FROM (SELECT id FROM seg ORDER BY v <-> (SELECT v FROM src WHERE id = 1) LIMIT 10) s}),
	0,
	'TRUNCATE: the index returns nothing');
run_sql($node, 'INSERT INTO seg SELECT * FROM src WHERE id <= 3000');
is(found_by_self(0), 3000, 'TRUNCATE then 3000 inserts: every row is found');
check_index('after TRUNCATE and inserts');

# REINDEX, plain and concurrent, rebuild the segments
run_sql($node, 'INSERT INTO seg SELECT * FROM src WHERE id > 3000');
$notices = build_index($node, $small_mem, 'REINDEX INDEX seg_idx');
$nseg = segment_count($notices);
cmp_ok($nseg, '>=', 4, "REINDEX: built as $nseg segments");
check_index('after REINDEX');
$notices = build_index($node, $small_mem, 'REINDEX INDEX CONCURRENTLY seg_idx');
$nseg = segment_count($notices);
cmp_ok($nseg, '>=', 4, "REINDEX CONCURRENTLY: built as $nseg segments");
check_index('after REINDEX CONCURRENTLY');

# CREATE INDEX CONCURRENTLY while another session inserts rows in small
# transactions; whichever phase each insert lands in, the index must find it
run_sql($node, q{
DROP INDEX seg_idx;
DELETE FROM seg WHERE id > 11000;
VACUUM seg;
});
my $bg = $node->background_psql('postgres');
$bg->query_until(
	qr/inserting/, q{
\echo inserting
SELECT pg_sleep(0.2);
INSERT INTO seg SELECT * FROM src WHERE id > 11000 AND id <= 11250;
SELECT pg_sleep(0.2);
INSERT INTO seg SELECT * FROM src WHERE id > 11250 AND id <= 11500;
SELECT pg_sleep(0.2);
INSERT INTO seg SELECT * FROM src WHERE id > 11500 AND id <= 11750;
SELECT pg_sleep(0.2);
INSERT INTO seg SELECT * FROM src WHERE id > 11750;
\echo inserted
});
$notices = build_index($node, $small_mem,
	'CREATE INDEX CONCURRENTLY seg_idx ON seg USING omenhnsw (v vector_l2_ops)');
$bg->query_until(qr/inserted/, '');
$bg->quit;
is($node->safe_psql('postgres',
		q{SELECT indisvalid FROM pg_index WHERE indexrelid = 'seg_idx'::regclass}),
	't', 'CREATE INDEX CONCURRENTLY: index is valid');
is(found_by_self(11000), 1000,
	'rows inserted during CREATE INDEX CONCURRENTLY are all found');
check_index('after CREATE INDEX CONCURRENTLY');

# A parallel build shares one graph sized by the table's row estimate.  Here
# the statistics were taken when wide rows filled the pages and say 5 rows a
# page where there are about 28: the shared graph fills up and the rest goes
# to further segments, which must be sound; after ANALYZE one segment.
run_sql($node, q{
CREATE TABLE low (id int, pad text, v vector(64)) WITH (autovacuum_enabled = off);
ALTER TABLE low ALTER pad SET STORAGE PLAIN;
INSERT INTO low SELECT i, repeat('x', 1500), NULL FROM generate_series(1, 2000) i;
ANALYZE low;
DELETE FROM low;
INSERT INTO low (id, v) SELECT id, v FROM src;
});
my $parallel = "SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '64MB';";
$notices = build_index($node, $parallel,
	'CREATE INDEX low_idx ON low USING omenhnsw (v vector_l2_ops)');
$nseg = segment_count($notices);
cmp_ok($nseg, '>=', 2, "low row estimate: built as $nseg segments");
like($notices, qr/more rows than its statistics said: ANALYZE it/,
	'low row estimate: the hint says to ANALYZE');
check_index('low row estimate', 'low', 'low_idx');
run_sql($node, 'ANALYZE low');
$notices = build_index($node, $parallel, 'REINDEX INDEX low_idx');
is(segment_count($notices), 1, 'after ANALYZE: REINDEX builds one segment');
check_index('low row estimate, after ANALYZE and REINDEX', 'low', 'low_idx');

$node->stop;
done_testing();
