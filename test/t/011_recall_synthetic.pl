# omenhnsw recall@10 on synthetic clustered data (10,000 x 32-d) for every
# operator class at the default ef_search, and under inner product on
# non-negative 3-d data, where a few long vectors are everyone's nearest;
# then for an index filled by
# single-row inserts after its build, after DELETE + VACUUM, and after whole
# clusters are deleted.  Ground truth is exact, from sequential scans;
# omenhnsw_verify() checks every index state.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $k = 10;
my $min_recall = 0.95;
my %opclass = (
	'<->' => 'vector_l2_ops',
	'<#>' => 'vector_ip_ops',
	'<=>' => 'vector_cosine_ops',
	'<+>' => 'vector_l1_ops');

my $node = omen_node('synthetic', extension => 1, conf => 'shared_buffers = 256MB');
make_clustered(
	$node,
	table => 'syn',
	queries => 'synq',
	n => 10000,
	nq => 100,
	dim => 32,
	clusters => 40,
	noise => 0.5,
	seed => 0.42);
is($node->safe_psql('postgres', 'SELECT count(*) FROM syn'),
	10000, 'synthetic rows generated');

sub verify_ok
{
	my ($index, $what) = @_;
	verify_clean($node, $index, "$index $what: omenhnsw_verify finds no problem");
	return;
}

# Checks recall@k (unless $min is undef: then it is only reported), that
# every query got k rows and that none came twice.
sub check_recall
{
	my ($table, $op, $index, $what, $queries, $min) = @_;
	my %gt = (gt => 'gt', table => $table, queries => $queries // 'synq',
		op => $op, k => $k);
	ground_truth($node, %gt);
	recall_ok(
		$node, %gt,
		index => $index,
		what => "$index $what",
		min => @_ < 6 ? $min_recall : $min);
	return;
}

# a bulk build per operator class
for my $op ('<->', '<#>', '<=>', '<+>')
{
	my $index = "syn_$opclass{$op}";
	my $notices = build_index($node, '',
		"CREATE INDEX $index ON syn USING omenhnsw (v $opclass{$op})");
	is(segment_count($notices), 1, "$index: one segment");
	verify_ok($index, 'after build');
	check_recall('syn', $op, $index, 'after build');
	$node->safe_psql('postgres', "DROP INDEX $index");
}

# inner product over 10,000 non-negative 3-d vectors (each coordinate a
# product of two uniforms): the longest vectors are the nearest to almost
# every node, so their full lists would turn each new node away and leave
# most nodes with no incoming link; a serial and a parallel bulk build
run_sql(
	$node, q{
SELECT setseed(0.42);
CREATE TABLE ipc AS SELECT i AS id,
	ARRAY[random() * random(), random() * random(), random() * random()]::vector(3) AS v
FROM generate_series(1, 10000) i;
CREATE TABLE ipcq AS SELECT i AS id, ARRAY[random(), random(), random()]::vector(3) AS v
FROM generate_series(1, 200) i;
ANALYZE ipc;
});
for my $workers (0, 1)
{
	my $index = "ipc_w$workers";
	my $notices = build_index($node,
		"SET max_parallel_maintenance_workers = $workers;\n"
		  . "SET min_parallel_table_scan_size = 0;\n"
		  . "SET client_min_messages = debug1;",
		"CREATE INDEX $index ON ipc USING omenhnsw (v vector_ip_ops)");
	if ($workers)
	{
		like($notices, qr/worker processed [1-9]\d* tuples/,
			"$index: a parallel worker inserted rows");
	}
	else
	{
		unlike($notices, qr/parallel worker/, "$index: a serial build");
	}
	verify_ok($index, 'after build');
	check_recall('ipc', '<#>', $index, "after build with $workers workers",
		'ipcq', 0.99);
	$node->safe_psql('postgres', "DROP INDEX $index");
}

# build over 6,000 rows, then 4,000 single-row inserts; then VACUUM after
# deleting 30% of every cluster, and the deleted vectors inserted again under
# new ids
for my $op ('<->', '<=>')
{
	my $index = "grow_$opclass{$op}";
	run_sql(
		$node, qq{
DROP TABLE IF EXISTS grow;
CREATE TABLE grow AS SELECT * FROM syn WHERE id <= 6000;
CREATE INDEX $index ON grow USING omenhnsw (v $opclass{$op});
INSERT INTO grow SELECT * FROM syn WHERE id > 6000;
});
	verify_ok($index, 'after 4000 inserts');
	check_recall('grow', $op, $index, 'after 4000 inserts');

	run_sql(
		$node, q{
DELETE FROM grow WHERE (id / 40) % 10 < 3;
VACUUM grow;
});
	is( $node->safe_psql(
			'postgres',
			"SELECT reltuples FROM pg_class WHERE relname = '$index'"),
		7000,
		"$index: VACUUM leaves one index entry per live row");
	verify_ok($index, 'after VACUUM');
	check_recall('grow', $op, $index, 'after VACUUM');

	run_sql($node,
		'INSERT INTO grow SELECT id + 10000, v FROM syn WHERE (id / 40) % 10 < 3'
	);
	verify_ok($index, 'after inserts following VACUUM');
	check_recall('grow', $op, $index, 'after inserts following VACUUM');
}

# 12 of the 40 clusters deleted and vacuumed: queries of the other clusters
# keep their recall; queries of the deleted ones still get k rows (their exact
# neighbours are scattered over other clusters, so their recall is only noted)
run_sql(
	$node, q{
DROP TABLE grow;
CREATE TABLE gone AS SELECT * FROM syn;
CREATE INDEX gone_l2 ON gone USING omenhnsw (v vector_l2_ops);
DELETE FROM gone WHERE id % 40 < 12;
VACUUM gone;
CREATE TABLE synq_kept AS SELECT * FROM synq WHERE id % 40 >= 12;
CREATE TABLE synq_gone AS SELECT * FROM synq WHERE id % 40 < 12;
});
verify_ok('gone_l2', 'after VACUUM of whole clusters');
check_recall('gone', '<->', 'gone_l2', 'after VACUUM of other clusters',
	'synq_kept');
check_recall('gone', '<->', 'gone_l2', 'near vacuumed clusters',
	'synq_gone', undef);

$node->stop;
done_testing();
