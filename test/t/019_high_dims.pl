# Indexes of 3,072 and 4,096 dimensions (the widest common embedding models;
# pgvector indexes them only as halfvec): clustered data on low-dimensional
# subspaces plus noise, as embeddings are.  Bulk-built over three quarters of
# the rows, the rest inserted one at a time; recall@10 at the default
# ef_search against exact results must reach 0.95 for L2 and cosine, and
# omenhnsw_verify must find nothing.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $k = 10;
my $min_recall = 0.95;
my $node = omen_node('highdims', extension => 1, conf => 'shared_buffers = 256MB');

# Tables $table and ${table}_q: each point a centre, plus a combination of
# 32 directions of its cluster with N(0, 0.35^2) weights, plus N(0, 0.3^2 / dim)
# noise per coordinate; 16 clusters; seed-fixed.  Returns the SQL that
# inserts the last quarter of $table's rows, seeded as well.
sub make_embeddings
{
	my ($table, $dim, $n, $nq, $seed) = @_;
	my $normal = 'sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())';
	my $rows = sub {
		my ($name, $first, $count) = @_;
		return qq{
INSERT INTO $name
SELECT p, c.a + (SELECT sum(array_fill(0.35 * $normal, ARRAY[$dim])::vector * b.b)
		FROM ${table}_basis b WHERE b.c = c.c AND p > 0)
	+ (SELECT array_agg(0.3 / sqrt($dim) * $normal)::vector
		FROM generate_series(1, $dim) WHERE p > 0)
FROM generate_series($first, $first + $count - 1) p
JOIN ${table}_centres c ON c.c = p % 16;};
	};
	run_sql(
		$node, qq{
SELECT setseed($seed);
CREATE TABLE ${table}_centres AS
SELECT c, array_agg($normal / sqrt($dim) ORDER BY d)::vector AS a
FROM generate_series(0, 15) c, generate_series(1, $dim) d GROUP BY c;
CREATE TABLE ${table}_basis AS
SELECT c, s, array_agg($normal / sqrt($dim) ORDER BY d)::vector AS b
FROM generate_series(0, 15) c, generate_series(1, 32) s, generate_series(1, $dim) d
GROUP BY c, s;
CREATE TABLE $table (id int, v vector($dim));
CREATE TABLE ${table}_q (id int, v vector($dim));
@{[ $rows->("${table}_q", 1, $nq) ]}
@{[ $rows->($table, 1, $n * 3 / 4) ]}
VACUUM ANALYZE $table, ${table}_q;
});
	# the inserts run later, in another session: seeded too
	return "SELECT setseed(-$seed);" . $rows->($table, $n * 3 / 4 + 1, $n / 4);
}

for my $case ([ 'd3072', 3072, 2000, 0.31 ], [ 'd4096', 4096, 1600, 0.32 ])
{
	my ($table, $dim, $n, $seed) = @$case;
	my $inserts = make_embeddings($table, $dim, $n, 50, $seed);
	for my $metric ([ 'l2', '<->' ], [ 'cosine', '<=>' ])
	{
		my ($name, $op) = @$metric;
		build_index($node, 'SET maintenance_work_mem = \'256MB\';',
			"CREATE INDEX ${table}_$name ON $table USING omenhnsw (v vector_${name}_ops)");
	}
	run_sql($node, $inserts);
	for my $metric ([ 'l2', '<->' ], [ 'cosine', '<=>' ])
	{
		my ($name, $op) = @$metric;
		my $index = "${table}_$name";
		my %gt = (op => $op, k => $k, queries => "${table}_q",
			table => $table, gt => "gt_$index");
		ground_truth($node, %gt);
		my ($recall, $minrows) = recall_at($node, %gt, index => $index);
		cmp_ok($recall, '>=', $min_recall,
			"$dim-d $name: recall\@$k $recall at the default ef_search");
		is($minrows, $k, "$dim-d $name: every query gets $k rows");
		my ($problems) = run_sql($node, "SELECT count(*) FROM omenhnsw_verify('$index')");
		is($problems + 0, 0, "$dim-d $name: omenhnsw_verify finds nothing");
	}
}

$node->stop;
done_testing();
