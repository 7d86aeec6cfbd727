# omenhnsw recall@10 on a 20,000-row slice of Fashion-MNIST (784-d, L2) for a
# serial, a parallel and a segmented build, and a parallel build with a tiny
# maintenance_work_mem.  Ground truth is exact, from sequential scans.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

fashion_required();

my $nrows = 20000;
my $nsmall = 3000;
my $nq = 200;
my $k = 10;
my $min_recall = 0.95;

my $node = omen_node(
	'fashion',
	extension => 1,
	conf => [
		'shared_buffers = 256MB', 'max_worker_processes = 8',
		'max_parallel_workers = 4'
	]);

my $dim = load_fashion($node, 'fashion', 'train', $nrows, plain => 1);
load_fashion($node, 'fq', 't10k', $nq);
is($dim, 784, 'Fashion-MNIST images have 784 pixels');
run_sql(
	$node, qq{
CREATE TABLE fashion_small AS SELECT * FROM fashion WHERE id <= $nsmall;
VACUUM ANALYZE fashion, fq, fashion_small;
});
is( $node->safe_psql('postgres',
		'SELECT count(*), min(vector_dims(v)) FROM fashion'),
	"$nrows|$dim",
	'training slice loaded');

my %gt = (op => '<->', k => $k, queries => 'fq');
ground_truth($node, %gt, table => 'fashion', gt => 'gt');
ground_truth($node, %gt, table => 'fashion_small', gt => 'gt_small');

# Builds the index, checks recall@10 at the default ef_search, drops it.
sub check_build
{
	my ($name, $settings, %opt) = @_;
	my $table = $opt{table} // 'fashion';
	my $create =
	  "CREATE INDEX $name ON $table USING omenhnsw (v vector_l2_ops)";
	my ($notices, $phases, $workers);
	if ($opt{watch})
	{
		($notices, $phases, $workers) =
		  watch_build($node, $settings, $create, $name);
	}
	else
	{
		$notices = build_index($node, $settings, $create);
	}
	recall_ok(
		$node, %gt,
		table => $table,
		index => $name,
		gt => $opt{gt} // 'gt',
		min => $min_recall,
		what => $name);
	$node->safe_psql('postgres', "DROP INDEX $name");
	return ($notices, $phases, $workers);
}

# serial build with room for one segment; progress is polled meanwhile
my ($notices, $phases, $workers) = check_build(
	'fashion_serial', q{
SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '256MB';},
	watch => 1);
is(segment_count($notices), 1, 'serial build with enough memory: one segment');
is($workers, 0, 'serial build: no parallel workers');
note 'phases seen: ' . join(', ', sort keys %$phases);
ok((grep { /^building index: \S/ } keys %$phases),
	'progress view named a build subphase');

# parallel build: two participants (PostgreSQL plans a worker per 32MB);
# the table's build memory, about 24MB, fits the budget: one shared graph
($notices, $phases, $workers) = check_build(
	'fashion_parallel', q{
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '64MB';},
	watch => 1);
cmp_ok($workers, '>=', 1, "parallel build ran with $workers worker(s)");
unlike(
	$notices,
	qr/serially|no parallel workers/,
	'parallel build did not fall back to serial');
is(segment_count($notices), 1,
	'parallel build within the budget: one segment');

# serial build cut into segments by a small maintenance_work_mem
($notices) = check_build(
	'fashion_segments', q{
SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '4MB';});
cmp_ok(segment_count($notices), '>=', 4,
	'4MB maintenance_work_mem: built as ' . segment_count($notices) . ' segments');

# parallel build with the smallest maintenance_work_mem: many tiny segments
($notices) = check_build(
	'fashion_tiny', q{
SET max_parallel_maintenance_workers = 2;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '1MB';},
	table => 'fashion_small',
	gt => 'gt_small');
cmp_ok(segment_count($notices), '>=', 4,
	'1MB maintenance_work_mem: built as ' . segment_count($notices) . ' segments');

# workers are allowed but the table fits one budget: still one segment
($notices) = check_build(
	'fashion_fits', q{
SET max_parallel_maintenance_workers = 2;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '256MB';},
	table => 'fashion_small',
	gt => 'gt_small');
is(segment_count($notices), 1,
	'table within maintenance_work_mem: one segment although workers are allowed');

# workers are planned but none can start: the leader builds alone
($notices) = check_build(
	'fashion_noworkers', q{
SET max_parallel_maintenance_workers = 1;
SET max_parallel_workers = 0;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '64MB';});
like(
	$notices,
	qr/could launch no parallel workers/,
	'no parallel workers available: NOTICE, then a serial build');

$node->stop;
done_testing();
