# Recall@10 at ef_search 40 on noise-dominated data, where neighbours are
# barely nearer than the rest of their cluster: 16 cluster centres drawn in
# a 96-dimensional subspace, each row a centre plus N(0, 0.8^2) noise in
# every coordinate; 20,000 rows of 384 dimensions and 10,000 of 768, 300
# queries of the same kind each.  pgvector 0.8.6 reached, in three serial
# builds on the same data and queries, 0.909 to 0.932 (L2) and 0.888 to
# 0.926 (cosine) on the 384-d set, 0.971 to 0.982 and 0.961 to 0.973 on the
# 768-d set.  pgvector draws levels at random, so its builds differ by about
# a hundredth.  A serial build, whose graph is always the same, must reach
# the best of pgvector's three, rounded down to the hundredth: 0.93 and 0.92,
# 0.98 and 0.97.  A build with one parallel worker makes another graph each
# time, as the participants' inserts interleave; one such build is held to
# the worst of pgvector's three, rounded down: 0.90 and 0.88, 0.97 and 0.96,
# which a build whose concurrent inserts can start their searches at a node
# not yet linked on the levels below (omen_graph_insert) falls under now
# and then.  300 queries keep the measurement's own noise below a
# hundredth.  Ground truth is exact.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $k = 10;
my $node = omen_node(
	'noisy',
	extension => 1,
	conf => [
		'shared_buffers = 256MB', 'max_worker_processes = 8',
		'max_parallel_workers = 4'
	]);

# Tables $table and ${table}_q of $n and $nq rows; seed-fixed.
sub make_noisy
{
	my ($table, $dim, $n, $nq, $seed) = @_;
	my $normal = 'sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random())';
	my $rows = sub {
		my ($name, $count, $stride) = @_;
		return qq{
CREATE TABLE $name (id int, v vector($dim));
INSERT INTO $name
SELECT p, (SELECT array_agg(x + 0.8 * $normal ORDER BY d)
		FROM unnest(c.a) WITH ORDINALITY u(x, d))
FROM generate_series(1, $count) p
JOIN centres c ON c.c = (p * $stride) % 16;};
	};
	run_sql(
		$node, qq{
SELECT setseed($seed);
DROP TABLE IF EXISTS basis, coef, centres;
CREATE TEMP TABLE basis AS
SELECT s, array_agg($normal / sqrt(96) ORDER BY d) AS b
FROM generate_series(1, 96) s, generate_series(1, $dim) d GROUP BY s;
CREATE TEMP TABLE coef AS
SELECT c, s, $normal AS w FROM generate_series(0, 15) c, generate_series(1, 96) s;
CREATE TEMP TABLE centres AS
SELECT c, array_agg(x ORDER BY d) AS a
FROM (SELECT k.c, u.d, sum(k.w * u.x) AS x
	FROM coef k JOIN basis b USING (s), unnest(b.b) WITH ORDINALITY u(x, d)
	GROUP BY k.c, u.d) z
GROUP BY c;
@{[ $rows->($table, $n, 1) ]}
@{[ $rows->("${table}_q", $nq, 7) ]}
ALTER TABLE $table ALTER COLUMN v SET STORAGE PLAIN;
VACUUM ANALYZE $table, ${table}_q;
});
	return;
}

# table, dims, rows, seed, least recall for l2 and cosine of a serial build
# and of a build with one worker
my @sets = (
	[
		'noisy384', 384, 20000, 0.42,
		[ { l2 => 0.93, cosine => 0.92 }, { l2 => 0.90, cosine => 0.88 } ]
	],
	[
		'noisy768', 768, 10000, 0.57,
		[ { l2 => 0.98, cosine => 0.97 }, { l2 => 0.97, cosine => 0.96 } ]
	]);
for my $set (@sets)
{
	my ($table, $dim, $n, $seed, $least) = @$set;
	make_noisy($table, $dim, $n, 300, $seed);
	for my $metric (['l2', '<->'], ['cosine', '<=>'])
	{
		my ($name, $op) = @$metric;
		my %gt = (op => $op, k => $k, queries => "${table}_q",
			table => $table, gt => "gt_$name");
		ground_truth($node, %gt);
		for my $workers (0, 1)
		{
			my $index = "${table}_${name}_$workers";
			my $notices = build_index(
				$node, qq{
SET max_parallel_maintenance_workers = $workers;
SET min_parallel_table_scan_size = 0;
SET maintenance_work_mem = '256MB';
SET client_min_messages = debug1;},
				"CREATE INDEX $index ON $table USING omenhnsw (v vector_${name}_ops)"
			);
			if ($workers)
			{
				like($notices, qr/shares one graph/,
					"$index: the worker and the leader share one graph");
			}
			is(segment_count($notices), 1, "$index: one segment");
			my ($recall) = recall_at(
				$node, %gt,
				index => $index,
				settings => 'SET omenhnsw.ef_search = 40;');
			cmp_ok($recall, '>=', $least->[$workers]{$name},
				"$index: recall\@$k = $recall at ef_search 40");
			run_sql($node, "DROP INDEX $index");
		}
	}
}

$node->stop;
done_testing();
