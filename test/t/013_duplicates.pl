# omenhnsw on tables where most rows repeat a few vectors: many values with
# a few hundred copies each, and a few values with thousands of copies among
# distinct rows.  After a bulk build, after single-row inserts into a built
# index and into an empty one, omenhnsw_verify finds every element reachable
# and a search for each repeated vector returns 10 exact copies at ef_search
# 10 and 40.  After a build, an iterative scan asked for as many rows as the
# vector has copies returns all of them: the copies link to each other.
# Inserts do not promise that (a copy may be reached through other
# vectors only, after the scan has returned farther rows).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = omen_node('duplicates', extension => 1, conf => 'shared_buffers = 256MB');

# rep: 30,000 rows of 101 values (297 or 298 copies each); few: 20,000 rows,
# three in four of them copies of 5 values (3,000 copies each), the others
# distinct.  Row order interleaves the values.
run_sql(
	$node, q{
SELECT setseed(0.42);
CREATE TABLE rep_vals AS
SELECT k, array_agg((random() * 2 - 1)::float4 ORDER BY j)::vector(64) AS v
FROM generate_series(0, 100) k, generate_series(1, 64) j GROUP BY k;
CREATE TABLE rep AS
SELECT i AS id, r.v FROM generate_series(0, 29999) i
JOIN rep_vals r ON r.k = i % 101 ORDER BY i;
CREATE TABLE few_vals AS
SELECT k, array_agg((random() * 2 - 1)::float4 ORDER BY j)::vector(32) AS v
FROM generate_series(0, 4) k, generate_series(1, 32) j GROUP BY k;
CREATE TABLE few AS
SELECT i AS id, CASE WHEN i % 4 <> 0 THEN f.v ELSE
	(SELECT array_agg((random() * 2 - 1)::float4 ORDER BY j)::vector(32)
	 FROM generate_series(1, 32) j WHERE i >= 0) END AS v
FROM generate_series(0, 19999) i JOIN few_vals f ON f.k = i % 5 ORDER BY i;
});

# Checks index $index on $table: no problem for omenhnsw_verify, 10 exact
# copies for every repeated vector at ef_search 10 and 40, and, if $all, all
# of its copies from an iterative scan.
sub check_copies
{
	my ($table, $index, $what, $all) = @_;

	verify_clean($node, $index, "$what: omenhnsw_verify finds no problem");

	run_sql(
		$node, qq{
DROP TABLE IF EXISTS copies;
CREATE TABLE copies AS
SELECT v::text::vector AS v, count(*) AS n FROM $table
GROUP BY v::text HAVING count(*) > 1;
});
	my $short = qq{
SELECT count(*), coalesce(string_agg(c.n::text, ','), '') FROM copies c
WHERE (SELECT count(*) FROM (SELECT t.v <-> c.v AS d FROM $table t
	ORDER BY t.v <-> c.v LIMIT 10) s WHERE d = 0) < 10};
	my ($plan) = run_sql($node,
		"SET enable_seqscan = off;\nEXPLAIN (COSTS OFF) $short;");
	like($plan, qr/Index Scan using $index on/,
		"$what: the searches use the index");
	for my $ef (10, 40)
	{
		my ($out) = run_sql($node,
			"SET enable_seqscan = off;\nSET omenhnsw.ef_search = $ef;\n$short;"
		);
		chomp $out;
		is($out, '0|',
			"$what: every repeated vector finds 10 copies at ef_search $ef");
	}
	return unless $all;

	my ($missed) = run_sql(
		$node, qq{
SET enable_seqscan = off;
SELECT coalesce(sum(c.n - s.found), -1) FROM copies c
CROSS JOIN LATERAL (SELECT count(*) FILTER (WHERE d = 0) AS found
	FROM (SELECT t.v <-> c.v AS d FROM $table t
		ORDER BY t.v <-> c.v LIMIT c.n) x) s;
});
	chomp $missed;
	is($missed, '0', "$what: iterative scans return every copy");
	return;
}

run_sql($node, 'CREATE INDEX rep_idx ON rep USING omenhnsw (v vector_l2_ops)');
check_copies('rep', 'rep_idx', 'bulk build, 101 values', 1);

run_sql($node, 'CREATE INDEX few_idx ON few USING omenhnsw (v vector_l2_ops)');
check_copies('few', 'few_idx', 'bulk build, 5 values', 1);

# half of rep built, the other half inserted row by row
run_sql(
	$node, q{
CREATE TABLE rep_half AS SELECT * FROM rep WHERE id < 15000;
CREATE INDEX rep_half_idx ON rep_half USING omenhnsw (v vector_l2_ops);
INSERT INTO rep_half SELECT * FROM rep WHERE id >= 15000 ORDER BY id;
});
check_copies('rep_half', 'rep_half_idx', 'inserts into a built index', 0);

run_sql(
	$node, q{
CREATE TABLE few_ins (id int, v vector(32));
CREATE INDEX few_ins_idx ON few_ins USING omenhnsw (v vector_l2_ops);
INSERT INTO few_ins SELECT * FROM few WHERE id < 10000 ORDER BY id;
});
check_copies('few_ins', 'few_ins_idx', 'inserts into an empty index', 0);

$node->stop;
done_testing();
