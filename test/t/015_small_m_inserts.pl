# Single-row inserts at the smallest m keep every live element reachable from
# the entry point (omenhnsw_verify), for every operator class: into an empty
# index, and into one built over part of the table.  Small neighbour lists
# are where pruning a list most often cuts an element's last incoming link.
# Then the same for tiny vectors with many ties.
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

# Tiny vectors drawn from a few values, huge ones among them, so that many
# distances tie or are infinite and many codes are copies of each other:
# 3,000 seeded cases at m = 2 (0 to 8 rows built, the rest of 12 inserted
# one at a time), omenhnsw_verify after every insert.  A new node's first
# links may take over most of its list here, and it is often the new entry
# point, whose level-0 link to the old one must survive that.
run_sql(
	$node, q{
SELECT setseed(0.27);
CREATE FUNCTION tie_vec(d int) RETURNS vector LANGUAGE sql AS $f$
	SELECT array_agg(CASE WHEN k < 7
		THEN (ARRAY[0, 1, -1, 3.5, 1e20, 1e30, -1e30])[k + 1]
		ELSE round((random() * 20 - 10)::numeric, 3) END)::vector
	FROM (SELECT floor(random() * 8)::int AS k FROM generate_series(1, d)) e
$f$;
CREATE TABLE tie_problems (c int, opc text, id int, problem text);
DO $$
DECLARE
	opcs text[] := ARRAY['vector_l1_ops', 'vector_l2_ops', 'vector_l1_ops',
						 'vector_ip_ops', 'vector_l1_ops', 'vector_cosine_ops'];
	opc text;
	d int;
	nb int;
BEGIN
	FOR c IN 1 .. 3000 LOOP
		opc := opcs[1 + c % 6];
		d := 1 + c % 4;
		nb := c % 9;
		DROP TABLE IF EXISTS tc;
		EXECUTE format('CREATE TABLE tc (id int, v vector(%s))', d);
		INSERT INTO tc SELECT i, tie_vec(d) FROM generate_series(1, nb) i;
		EXECUTE format('CREATE INDEX tc_idx ON tc USING omenhnsw (v %s) '
					   'WITH (m = 2, ef_construction = 64)', opc);
		FOR i IN nb + 1 .. 12 LOOP
			INSERT INTO tc VALUES (i, tie_vec(d));
			INSERT INTO tie_problems
			SELECT c, opc, i, p FROM omenhnsw_verify('tc_idx') p;
		END LOOP;
		COMMIT;
	END LOOP;
END
$$;
});
my ($bad) = run_sql($node,
	q{SELECT count(DISTINCT c) || ' ' || coalesce(min(c || ' ' || opc || ' row ' || id || ': ' || problem), '')
	  FROM tie_problems});
like($bad, qr/^0 /,
	'3,000 tie-heavy cases at m = 2: every live element stays reachable after every insert'
	  . " (cases with problems, first: $bad)");

$node->stop;
done_testing();
