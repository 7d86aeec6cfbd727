# Bulk builds at small m keep every live element reachable from the entry
# point (omenhnsw_verify), for every operator class, serial and parallel:
# over small seeded tables full of duplicates, with a few extreme values.
# Heuristic pruning there leaves elements with no incoming link, and the
# build's final pass must link every one of them without cutting another.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = omen_node('small_m_builds', extension => 1, conf => 'shared_buffers = 256MB');

# For each seed, 60 rows of 2-d vectors: half [0,0], the rest small integers,
# one in ten extreme (coordinates up to 3e38), and a few NULLs.
run_sql(
	$node, q{
CREATE TABLE src (seed int, id int, v vector(2));
CREATE FUNCTION coord() RETURNS float4 LANGUAGE sql AS $$
	SELECT CASE WHEN random() < 0.1
		THEN (ARRAY[1e20, -1e20, 3e38, -3e38, 1e30])[1 + floor(random() * 5)::int]
		ELSE floor(random() * 7) - 3 END::float4
$$;
DO $$
BEGIN
	FOR s IN 1 .. 6 LOOP
		PERFORM setseed(s / 10.0);
		INSERT INTO src
		SELECT s, i, CASE
			WHEN r < 0.05 THEN NULL
			WHEN r < 0.5 THEN '[0,0]'::vector(2)
			ELSE ARRAY[coord(), coord()]::vector(2) END
		FROM (SELECT i, random() AS r FROM generate_series(1, 60) i) x;
	END LOOP;
END
$$;
});

# every build in one session; each prints the problems verify finds
my $sql = '';
my $cases = 0;
for my $workers (0, 2)
{
	for my $opc (qw(vector_l2_ops vector_ip_ops vector_cosine_ops vector_l1_ops))
	{
		for my $m (2, 3, 4)
		{
			my $ef = 2 * $m;

			for my $seed (1 .. 6)
			{
				$cases++;
				$sql .= qq{
SET max_parallel_maintenance_workers = $workers;
DROP TABLE IF EXISTS t;
CREATE TABLE t AS SELECT id, v FROM src WHERE seed = $seed;
CREATE INDEX t_idx ON t USING omenhnsw (v $opc) WITH (m = $m, ef_construction = $ef);
SELECT 'workers $workers, $opc, m = $m, seed $seed: ' || p FROM omenhnsw_verify('t_idx') p;
};
			}
		}
	}
}
is($node->safe_psql('postgres', "SET min_parallel_table_scan_size = 0;$sql"),
	'', "$cases small-m builds: omenhnsw_verify finds no problem in any");

$node->stop;
done_testing();
