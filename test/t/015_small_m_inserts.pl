# Single-row inserts at the smallest m keep every live element reachable from
# the entry point (omenhnsw_verify), for every operator class: into an empty
# index, and into one built over part of the table.  Small neighbour lists
# are where pruning a list most often cuts an element's last incoming link.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = omen_node('small_m', extension => 1, conf => 'shared_buffers = 256MB');

# 300 random 8-d rows in [-16, 16], the same for every case
run_sql(
	$node, q{
SELECT setseed(0.61);
CREATE TABLE src AS
SELECT i AS id, (SELECT array_agg(random() * 32 - 16) FROM generate_series(1, 8)
		WHERE i > 0)::vector(8) AS v
FROM generate_series(1, 300) i;
});

for my $opc (qw(vector_l2_ops vector_ip_ops vector_cosine_ops vector_l1_ops))
{
	for my $m (2, 3, 4)
	{
		for my $built (0, 150)
		{
			my $what = "$opc, m = $m, "
			  . ($built ? "built over $built rows" : 'empty index');
			run_sql(
				$node, qq{
DROP TABLE IF EXISTS t;
CREATE TABLE t (id int, v vector(8));
INSERT INTO t SELECT * FROM src WHERE id <= $built;
CREATE INDEX t_idx ON t USING omenhnsw (v $opc) WITH (m = $m, ef_construction = 8);
DO \$\$
BEGIN
	FOR i IN $built + 1 .. 300 LOOP
		INSERT INTO t SELECT * FROM src WHERE id = i;
	END LOOP;
END
\$\$;
});
			verify_clean($node, 't_idx',
				"$what, then single-row inserts: omenhnsw_verify finds no problem");
		}
	}
}

$node->stop;
done_testing();
