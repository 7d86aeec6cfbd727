# omenhnsw recall for halfvec and bit on a 15,000-row slice of Fashion-MNIST
# (784-d).  halfvec_l2_ops must do as well as vector_l2_ops on the same
# images (its codes are made from the same values, rounded to half) at about
# two thirds of the size.  bit_hamming_ops on binary_quantize of the images
# (a pixel's bit is set where it is not black) must find the Hamming k-NN.
# Ground truth is exact, from sequential scans with each type's operator.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

fashion_required();

my $nrows = 15000;
my $nq = 200;
my $k = 10;

my $node = omen_node('types', extension => 1,
	conf => ['shared_buffers = 256MB']);
my $dim = load_fashion($node, 'fashion', 'train', $nrows, plain => 1);
load_fashion($node, 'fq', 't10k', $nq);
run_sql(
	$node, qq{
CREATE TABLE fh (id int, v halfvec($dim));
ALTER TABLE fh ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO fh SELECT id, v FROM fashion;
CREATE TABLE fqh AS SELECT id, v::halfvec($dim) AS v FROM fq;
CREATE TABLE fb AS SELECT id, binary_quantize(v)::bit($dim) AS v FROM fashion;
CREATE TABLE fqb AS SELECT id, binary_quantize(v)::bit($dim) AS v FROM fq;
VACUUM ANALYZE fashion, fq, fh, fqh, fb, fqb;
});

ground_truth($node, op => '<->', k => $k, queries => 'fq', table => 'fashion', gt => 'gt');
ground_truth($node, op => '<->', k => $k, queries => 'fqh', table => 'fh', gt => 'gth');
ground_truth($node, op => '<~>', k => $k, queries => 'fqb', table => 'fb', gt => 'gtb');
ground_truth($node, op => '<%>', k => $k, queries => 'fqb', table => 'fb', gt => 'gtj');

my $serial = q{
SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '256MB';};

# Builds index $name of $table with operator class $opclass; returns its
# recall@k at the default ef_search (40) and at ef_search 10, and its size in
# bytes.
sub build_recall
{
	my ($name, $table, $opclass, $op, $queries, $gt, $with) = @_;
	build_index($node, $serial,
		"CREATE INDEX $name ON $table USING omenhnsw (v $opclass)"
		  . ($with ? " WITH ($with)" : ''));
	verify_clean($node, $name, "$name: omenhnsw_verify finds nothing");
	my %a = (
		op => $op,
		k => $k,
		queries => $queries,
		table => $table,
		index => $name,
		gt => $gt);
	my $recall = recall_ok($node, %a, min => undef, what => $name);
	my ($recall10) =
	  recall_at($node, %a, settings => 'SET omenhnsw.ef_search = 10;');
	my $size = $node->safe_psql('postgres', "SELECT pg_relation_size('$name')");
	note "$name: recall\@$k $recall (ef_search 10: $recall10), $size bytes";
	return ($recall, $recall10, $size);
}

my ($r_vec, $r10_vec, $s_vec) =
  build_recall('f_vec', 'fashion', 'vector_l2_ops', '<->', 'fq', 'gt');
my ($r_half, $r10_half, $s_half) =
  build_recall('f_half', 'fh', 'halfvec_l2_ops', '<->', 'fqh', 'gth');
cmp_ok($r_half, '>=', $r_vec - 0.01,
	"halfvec_l2_ops recall\@$k $r_half is within 0.01 of vector_l2_ops' $r_vec");
cmp_ok($r10_half, '>=', $r10_vec - 0.01,
	"at ef_search 10, halfvec_l2_ops recall\@$k $r10_half is within 0.01 of vector_l2_ops' $r10_vec");
cmp_ok($s_half, '<', 0.55 * $s_vec,
	"halfvec index ($s_half bytes) is under 0.55 of the vector index ($s_vec)");

# built with codes = 'halves', the rows keep the halves themselves: exact
# codes, no vector pages, and a smaller index again
my ($r_halves, $r10_halves, $s_halves) =
  build_recall('f_halves', 'fh', 'halfvec_l2_ops', '<->', 'fqh', 'gth',
	"codes = 'halves'");
cmp_ok($r_halves, '>=', $r_vec - 0.01,
	"codes = 'halves': recall\@$k $r_halves is within 0.01 of vector_l2_ops' $r_vec");
cmp_ok($s_halves, '<', $s_half,
	"codes = 'halves': the index ($s_halves bytes) is smaller than with 4-bit codes ($s_half)");
$node->safe_psql('postgres', 'DROP INDEX f_halves');

# A parallel build into one graph that the leader and a worker share: the
# codes are 4-bit ones of the halves, so the shared graph's layout is the
# halfvec one's in every participant.  (The serial build's index is dropped
# first, so that the scans cannot take it instead.)
run_sql($node, 'DROP INDEX f_half');
my $notices = build_index(
	$node, q{
SET maintenance_work_mem = '256MB';
SET max_parallel_maintenance_workers = 1;
SET min_parallel_table_scan_size = 0;
SET client_min_messages = debug1;},
	'CREATE INDEX f_half_par ON fh USING omenhnsw (v halfvec_l2_ops)');
my ($worker) = $notices =~ /worker processed (\d+) tuples/;
ok(defined $worker && $worker > 0,
	'parallel halfvec build: the worker inserted rows (' . ($worker // 'none') . ')');
like($notices, qr/shares one graph of room/, 'parallel halfvec build: one shared graph');
verify_clean($node, 'f_half_par', 'parallel halfvec build: omenhnsw_verify finds nothing');
my $r_par = recall_ok(
	$node,
	op => '<->',
	k => $k,
	queries => 'fqh',
	table => 'fh',
	index => 'f_half_par',
	gt => 'gth',
	min => undef,
	what => 'parallel halfvec build');
cmp_ok($r_par, '>=', $r_half - 0.01,
	"parallel halfvec build: recall\@$k $r_par is within 0.01 of the serial build's $r_half");
run_sql($node, 'DROP INDEX f_half_par');

# Hamming distances of 784-bit images tie a lot, and ties count as hits.
# Measured: 0.999 (Hamming) and 1.0 (Jaccard) at ef_search 40; the bounds
# leave room for other builds' graphs, not for a worse search.
my ($r_ham) = build_recall('f_ham', 'fb', 'bit_hamming_ops', '<~>', 'fqb', 'gtb');
cmp_ok($r_ham, '>=', 0.97, "bit_hamming_ops recall\@$k $r_ham at ef_search 40");
my ($r_jac) = build_recall('f_jac', 'fb', 'bit_jaccard_ops', '<%>', 'fqb', 'gtj');
cmp_ok($r_jac, '>=', 0.97, "bit_jaccard_ops recall\@$k $r_jac at ef_search 40");

# inserts: the same rows again through aminsert into an empty index
run_sql($node, q{
CREATE TABLE fh2 (id int, v halfvec(784));
ALTER TABLE fh2 ALTER COLUMN v SET STORAGE PLAIN;
CREATE INDEX f_half_ins ON fh2 USING omenhnsw (v halfvec_l2_ops);
INSERT INTO fh2 SELECT * FROM fh WHERE id <= 5000;
ANALYZE fh2;
});
ground_truth($node, op => '<->', k => $k, queries => 'fqh', table => 'fh2', gt => 'gth2');
verify_clean($node, 'f_half_ins', 'halfvec index built by inserts: verify finds nothing');
recall_ok(
	$node,
	op => '<->',
	k => $k,
	queries => 'fqh',
	table => 'fh2',
	index => 'f_half_ins',
	gt => 'gth2',
	min => 0.95,
	what => 'halfvec index built by inserts');

$node->stop;
done_testing();
