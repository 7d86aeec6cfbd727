# A parallel omenhnsw build uses its worker and one shared graph whatever
# maintenance_work_mem says, 1GB to 8GB, and sizes the graph's dynamic
# shared memory by the table's rows, also for a table that has never been
# vacuumed or analyzed (the planner's guess for it is many times too large).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $nrows = 6000;
my $node = omen_node(
	'parallel_memory',
	extension => 1,
	conf => [
		'shared_buffers = 256MB', 'max_worker_processes = 8',
		'max_parallel_workers = 4', 'autovacuum = off'
	]);
make_clustered(
	$node,
	table => 'src',
	queries => 'q',
	n => $nrows,
	nq => 10,
	dim => 64,
	clusters => 20,
	noise => 0.5,
	seed => 0.23);

for my $mem ('1GB', '2GB', '8GB')
{
	# a new table, so that it has no statistics
	run_sql($node, 'DROP TABLE IF EXISTS t; CREATE TABLE t AS SELECT * FROM src');
	is( $node->safe_psql('postgres',
			q{SELECT reltuples < 0 FROM pg_class WHERE relname = 't'}),
		't', "$mem: the table has no statistics");
	my $notices = build_index(
		$node, qq{
SET maintenance_work_mem = '$mem';
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = 0;
SET client_min_messages = debug1;},
		'CREATE INDEX t_idx ON t USING omenhnsw (v vector_l2_ops)');
	like($notices, qr/using 1 parallel workers/, "$mem: one worker launched");
	my ($worker) = $notices =~ /worker processed (\d+) tuples/;
	ok(defined $worker && $worker > 0,
		"$mem: the worker inserted rows (" . ($worker // 'none') . ')');
	my ($room) = $notices =~ /shares one graph of room for (\d+) rows/;
	ok(defined $room, "$mem: the participants share one graph");
	cmp_ok($room // 0, '<=', 2 * $nrows,
		"$mem: the shared graph is sized by the table's $nrows rows");
	unlike($notices, qr/NOTICE: .*(serially|alone)/, "$mem: no serial fallback");
	is(segment_count($notices), 1, "$mem: one segment");
	verify_clean($node, 't_idx', "$mem: omenhnsw_verify finds no problem");
}

$node->stop;
done_testing();
