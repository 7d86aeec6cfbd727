# omenhnsw recall for sparsevec, against exact ground truth from sequential
# scans with each operator, at the default ef_search (40):
# - a SPLADE-like set: 10,000 rows of 30,000 dimensions with 100 to 160
#   non-zeros drawn around 64 topics (most from the topic's 400 terms, the
#   rest from a skewed global vocabulary), positive weights; its codes are
#   hashing sketches (more dimensions than a code has floats).  Every
#   operator class, and an index built by inserts;
# - 10,000 Fashion-MNIST images (784-d, about half the pixels zero) as
#   sparsevec, under L2 and cosine, when the data set is installed.
# The bounds are under what was measured (0.978 to 1.0 for the SPLADE-like
# set, 0.999 to 1.0 for Fashion-MNIST), leaving room for other builds'
# graphs, not for a worse search.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $k = 10;
my $node = omen_node('sparse', extension => 1,
	conf => ['shared_buffers = 256MB']);

run_sql(
	$node, q{
SELECT setseed(0.13);
CREATE FUNCTION splade_like(topic int, n int) RETURNS sparsevec
LANGUAGE sql VOLATILE AS $$
SELECT ('{' || string_agg(t || ':' || w, ',' ORDER BY t) || '}/30000')::sparsevec
FROM (SELECT t, max(w) AS w FROM (
	SELECT CASE WHEN random() < 0.6
		THEN 1 + (topic * 7919 + floor(random() * 400)::int * 101) % 30000
		ELSE 1 + floor(30000 * random() ^ 3)::int % 30000 END AS t,
		round((0.05 + random() * random() * 3)::numeric, 3) AS w
	FROM generate_series(1, n)) s GROUP BY t) s
$$;
CREATE TABLE sp (id int, v sparsevec(30000));
ALTER TABLE sp ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO sp SELECT i, splade_like(i % 64, 100 + (i % 7) * 10)
FROM generate_series(1, 10000) i;
CREATE TABLE spq (id int, v sparsevec(30000));
INSERT INTO spq SELECT i, splade_like((i * 13) % 64, 100) FROM generate_series(1, 100) i;
VACUUM ANALYZE sp, spq;
});

my $serial = q{
SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '256MB';};

# Builds index $name of $table with operator class $opclass and checks its
# recall@k against the ground truth of $op, computed here.
sub sparse_recall
{
	my ($name, $table, $queries, $opclass, $op, $min) = @_;
	ground_truth($node, op => $op, k => $k, queries => $queries,
		table => $table, gt => "gt_$name");
	build_index($node, $serial,
		"CREATE INDEX $name ON $table USING omenhnsw (v $opclass)");
	verify_clean($node, $name, "$name: omenhnsw_verify finds nothing");
	my $size = $node->safe_psql('postgres', "SELECT pg_relation_size('$name')");
	note "$name: $size bytes";
	recall_ok(
		$node,
		op => $op,
		k => $k,
		queries => $queries,
		table => $table,
		index => $name,
		gt => "gt_$name",
		min => $min,
		what => "$name ($opclass)");
	run_sql($node, "DROP INDEX $name");
	return;
}

sparse_recall('sp_l2', 'sp', 'spq', 'sparsevec_l2_ops', '<->', 0.95);
sparse_recall('sp_ip', 'sp', 'spq', 'sparsevec_ip_ops', '<#>', 0.95);
sparse_recall('sp_cos', 'sp', 'spq', 'sparsevec_cosine_ops', '<=>', 0.95);
sparse_recall('sp_l1', 'sp', 'spq', 'sparsevec_l1_ops', '<+>', 0.95);

# the first 3,000 rows again, through aminsert into an empty index
run_sql($node, q{
CREATE TABLE sp2 (id int, v sparsevec(30000));
ALTER TABLE sp2 ALTER COLUMN v SET STORAGE PLAIN;
CREATE INDEX sp2_cos ON sp2 USING omenhnsw (v sparsevec_cosine_ops);
INSERT INTO sp2 SELECT * FROM sp WHERE id <= 3000;
ANALYZE sp2;
});
ground_truth($node, op => '<=>', k => $k, queries => 'spq', table => 'sp2',
	gt => 'gt_sp2');
verify_clean($node, 'sp2_cos', 'sparsevec index built by inserts: verify finds nothing');
recall_ok(
	$node,
	op => '<=>',
	k => $k,
	queries => 'spq',
	table => 'sp2',
	index => 'sp2_cos',
	gt => 'gt_sp2',
	min => 0.95,
	what => 'sparsevec index built by inserts');

SKIP:
{
	skip 'Fashion-MNIST not installed', 8
	  unless -r '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz';
	my $dim = load_fashion($node, 'fashion', 'train', 10000);
	load_fashion($node, 'fq', 't10k', 100);
	run_sql(
		$node, qq{
CREATE TABLE fs (id int, v sparsevec($dim));
ALTER TABLE fs ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO fs SELECT id, v::sparsevec FROM fashion;
CREATE TABLE fsq AS SELECT id, v::sparsevec($dim) AS v FROM fq;
VACUUM ANALYZE fs, fsq;
});
	sparse_recall('fs_l2', 'fs', 'fsq', 'sparsevec_l2_ops', '<->', 0.97);
	sparse_recall('fs_cos', 'fs', 'fsq', 'sparsevec_cosine_ops', '<=>', 0.97);
}

$node->stop;
done_testing();
