# omenhnsw recall@10 on a 20,000-row slice of Fashion-MNIST (784-d, L2) for a
# serial, a parallel and a segmented build, and a parallel build with a tiny
# maintenance_work_mem.  Ground truth is exact, from sequential scans.
use strict;
use warnings FATAL => 'all';

use Cwd qw(abs_path);
use FindBin;
use lib $FindBin::RealBin;
use OmenHnswTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $data = '/usr/share/datasets/fashion-mnist';
plan skip_all => "Fashion-MNIST not found in $data"
  unless -r "$data/train-images-idx3-ubyte.gz"
  && -r "$data/t10k-images-idx3-ubyte.gz";

my $nrows = 20000;
my $nsmall = 3000;
my $nq = 200;
my $k = 10;
my $min_recall = 0.95;

my $node = start_node('fashion', 'max_worker_processes = 8',
	'max_parallel_workers = 4');

# the server reads the files, so they need an absolute path
my $tmp = abs_path(PostgreSQL::Test::Utils::tempdir);
my $dim = write_idx_images("$data/train-images-idx3-ubyte.gz",
	"$tmp/train.tsv", 0, $nrows);
write_idx_images("$data/t10k-images-idx3-ubyte.gz", "$tmp/test.tsv", 0, $nq);
is($dim, 784, 'Fashion-MNIST images have 784 pixels');

# PLAIN storage keeps the 3 KB rows uncompressed, so that the exact scans for
# the ground truth do not decompress every row for every query
run_sql(
	$node, qq{
CREATE TABLE fashion (id int, v vector($dim));
ALTER TABLE fashion ALTER COLUMN v SET STORAGE PLAIN;
COPY fashion FROM '$tmp/train.tsv';
CREATE TABLE fq (id int, v vector($dim));
COPY fq FROM '$tmp/test.tsv';
CREATE TABLE fashion_small AS SELECT * FROM fashion WHERE id <= $nsmall;
VACUUM ANALYZE fashion, fq, fashion_small;
});
unlink "$tmp/train.tsv", "$tmp/test.tsv";
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
	my ($recall, $minrows, $distinct) = recall_at(
		$node, %gt,
		table => $table,
		index => $name,
		gt => $opt{gt} // 'gt');
	cmp_ok($recall, '>=', $min_recall,
		"$name: recall\@$k = $recall at the default ef_search");
	is($minrows, $k, "$name: every query got $k rows");
	ok($distinct, "$name: no row returned twice");
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
