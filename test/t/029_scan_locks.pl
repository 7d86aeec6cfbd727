# Scans take no heavyweight lock of their own: while two clients run
# k-NN queries with a wide search (ef_search 400) over an index of several
# segments, a sampler reads pg_locks every few milliseconds and must never
# see a page lock on the index held by a scan.  Meanwhile a third client
# deletes the oldest rows, runs VACUUM (which retires the segments left
# without live rows and frees their pages) and inserts new rows (which reuse
# those pages), so searches run into retired segments and reused pages:
# every query's rows must come complete and in distance order, and the
# verifier must be clean afterwards.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $seconds = 8;
my $node = omen_node('scanlocks');
omen_setup($node);
omen_load($node, 6000, 0.29);
my (undef, $notices) = run_sql(
	$node, q{
SET maintenance_work_mem = '1MB';
SET client_min_messages = debug1;
CREATE INDEX t_v_idx ON t USING omenhnsw (v vector_l2_ops)
	WITH (m = 16, ef_construction = 64);});
cmp_ok(segment_count($notices), '>', 2, 'the bulk build made several segments');

$node->safe_psql(
	'postgres', q{
CREATE TABLE samples (page_locks int, scans int);
CREATE PROCEDURE sample(n int) LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1 .. n LOOP
		INSERT INTO samples
		SELECT (SELECT count(*) FROM pg_locks
				WHERE locktype = 'page' AND relation = 't_v_idx'::regclass
				  AND pid <> pg_backend_pid()
				  AND pid IN (SELECT pid FROM pg_stat_activity
							  WHERE query LIKE '%knn_check%')),
			(SELECT count(*) FROM pg_stat_activity
			 WHERE state = 'active' AND query LIKE '%knn_check(rand_vec%');
		COMMIT;
		PERFORM pg_sleep(0.005);
	END LOOP;
END $$;});

my $queries = pgbench_start(
	$node, 'knn',
	{
		knn => "\\set c random(1, 20)\n"
		  . "SET omenhnsw.ef_search = 400;\n"
		  . "SELECT knn_check(rand_vec(:c), 10);\n"
	},
	'-c', 2, '-T', $seconds);
my $churn = pgbench_start(
	$node, 'churn',
	{
		churn => "DELETE FROM t WHERE id IN (SELECT id FROM t ORDER BY id LIMIT 600);\n"
		  . "VACUUM (VERBOSE) t;\n"
		  . "INSERT INTO t (v) SELECT rand_vec(1 + g % 20) FROM generate_series(1, 600) g;\n"
	},
	'-c', 1, '-T', $seconds);
$node->safe_psql('postgres', "CALL sample(400)");

my ($rc, $out, $err) = pgbench_finish($queries);
is($rc, 0, 'k-NN queries return complete rows in distance order') or diag($err);
($rc, $out, $err) = pgbench_finish($churn);
is($rc, 0, 'deletes, VACUUM and inserts run without errors') or diag($err);
like($out, qr/processed: [1-9]/, 'the churn ran during the queries');
my @retired = grep { $_ > 0 } $err =~ /index "t_v_idx": pages: \d+ in total, (\d+) newly deleted/g;
cmp_ok(scalar(@retired), '>', 0,
	'VACUUM retired segments and freed their pages during the queries');

my ($scanning, $locked) = split /\|/, $node->safe_psql('postgres',
	'SELECT count(*) FILTER (WHERE scans > 0), count(*) FILTER (WHERE page_locks > 0) FROM samples');
cmp_ok($scanning, '>=', 50, "$scanning samples were taken while queries ran");
is($locked, '0', 'no sample saw a scan hold a page lock on the index');

verify_clean($node, 't_v_idx', 'the verifier is clean after the load');
$node->stop;
done_testing();
