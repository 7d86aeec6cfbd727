# omenhnsw_build_estimate: its segment count equals what real builds make,
# and its index size is within 15% of theirs, for 784-d and 128-d vectors
# with a maintenance_work_mem that cuts several segments and one that fits
# a single one; the table overload takes the rows and dimension from the
# table; bad arguments get clear errors.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = omen_node('estimate', extension => 1, conf => 'shared_buffers = 256MB');

# serial builds: the estimate is that of a serial build
my $serial = 'SET max_parallel_maintenance_workers = 0;';

foreach my $case (
	[ 784, 3000, '1MB' ],
	[ 784, 3000, '64MB' ],
	[ 128, 8000, '1MB' ],
	[ 128, 8000, '64MB' ])
{
	my ($dim, $n, $mem) = @$case;
	my $t = "t$dim";
	my $what = "$n x $dim-d at maintenance_work_mem $mem";
	if ($mem eq '1MB')
	{
		make_clustered(
			$node,
			table => $t,
			queries => "q$dim",
			n => $n,
			nq => 1,
			dim => $dim,
			clusters => 20,
			noise => 0.3,
			seed => 0.31);
		run_sql($node, "VACUUM ANALYZE $t");
	}
	my $settings = "$serial SET maintenance_work_mem = '$mem';";
	my ($est) = run_sql($node,
		"$settings SELECT bytes_per_vector, segments, index_bytes FROM omenhnsw_build_estimate($n, $dim)"
	);
	chomp $est;
	my ($per, $segs, $bytes) = split /\|/, $est;
	my ($est_t) = run_sql($node,
		"$settings SELECT bytes_per_vector, segments, index_bytes FROM omenhnsw_build_estimate('$t', 'v')"
	);
	chomp $est_t;
	is($est_t, $est, "$what: the table overload gives the same figures");

	my $notices = build_index($node, $settings,
		"CREATE INDEX ${t}_idx ON $t USING omenhnsw (v vector_l2_ops)");
	my $real_segs = segment_count($notices);
	my ($real_bytes) = run_sql($node, "SELECT pg_relation_size('${t}_idx')");
	chomp $real_bytes;
	my ($problems) = run_sql($node,
		"SELECT count(*) FROM omenhnsw_verify('${t}_idx')");
	chomp $problems;
	is($problems, 0, "$what: the index is sound");
	is($segs, $real_segs, "$what: estimated segments = built segments ($real_segs)");
	my $dev = ($bytes - $real_bytes) / $real_bytes;
	note sprintf("%s: %d bytes per vector, %d segments, size estimated %d, real %d (%+.1f%%)",
		$what, $per, $segs, $bytes, $real_bytes, 100 * $dev);
	cmp_ok(abs($dev), '<=', 0.15,
		sprintf("$what: estimated size within 15%% of the real one (%+.1f%%)", 100 * $dev));
	run_sql($node, "DROP INDEX ${t}_idx");
	cmp_ok($per, '<=', 1300, "$what: at most 1.3 kB per vector while building")
	  if $dim == 784;
}

# a 784-d halfvec index, whose rows keep 4-bit codes and whose vector pages
# keep the halves: about half the size of the vector index
foreach my $mem ('1MB', '64MB')
{
	my $what = "3000 x 784-d halfvec at maintenance_work_mem $mem";
	my $settings = "$serial SET maintenance_work_mem = '$mem';";
	my ($est) = run_sql($node,
		"$settings SELECT segments, index_bytes FROM omenhnsw_build_estimate(3000, 784, 16, 'halfvec_l2_ops')"
	);
	chomp $est;
	my ($segs, $bytes) = split /\|/, $est;
	my ($vec_bytes) = run_sql($node,
		"$settings SELECT index_bytes FROM omenhnsw_build_estimate(3000, 784)");
	chomp $vec_bytes;
	my $notices = build_index($node, $settings,
		"CREATE INDEX h784_idx ON t784 USING omenhnsw ((v::halfvec(784)) halfvec_l2_ops)");
	my ($real_bytes) = run_sql($node, "SELECT pg_relation_size('h784_idx')");
	chomp $real_bytes;
	my ($problems) = run_sql($node, "SELECT count(*) FROM omenhnsw_verify('h784_idx')");
	chomp $problems;
	is($problems, 0, "$what: the index is sound");
	is($segs, segment_count($notices), "$what: estimated segments = built segments");
	my $dev = ($bytes - $real_bytes) / $real_bytes;
	cmp_ok(abs($dev), '<=', 0.15,
		sprintf("$what: estimated size within 15%% of the real one (%+.1f%%)", 100 * $dev));
	cmp_ok($real_bytes, '<=', 0.55 * $vec_bytes,
		"$what: at most 0.55 of the vector index's estimated size ($real_bytes of $vec_bytes)");
	run_sql($node, "DROP INDEX h784_idx");
}

# a column without a dimension: the first non-NULL value gives it
run_sql($node,
	"CREATE TABLE nodim AS SELECT id, v::vector AS v FROM t128; INSERT INTO nodim VALUES (0, NULL); VACUUM ANALYZE nodim"
);
my ($nodim) = run_sql($node,
	"SELECT segments, index_bytes FROM omenhnsw_build_estimate('nodim', 'v')");
my ($bycount) = run_sql($node,
	"SELECT segments, index_bytes FROM omenhnsw_build_estimate(8001, 128)");
is($nodim, $bycount, 'a column without a dimension: the first non-NULL value gives it');

# more links, more memory per vector
my ($m8, $m32) = split /\n/, (run_sql($node,
	"SELECT bytes_per_vector FROM omenhnsw_build_estimate(1000, 128, 8) UNION ALL SELECT bytes_per_vector FROM omenhnsw_build_estimate(1000, 128, 32, 'vector_cosine_ops')"))[0];
cmp_ok($m8, '<', $m32, "m = 8 takes less memory per vector ($m8) than m = 32 ($m32)");

foreach my $bad (
	[ "omenhnsw_build_estimate(-1, 128)", qr/row count must not be negative/ ],
	[ "omenhnsw_build_estimate(10, 0)", qr/vector must have at least 1 dimension/ ],
	[ "omenhnsw_build_estimate(10, 16001)", qr/vector cannot have more than 16000 dimensions/ ],
	[ "omenhnsw_build_estimate(10, 128, 1)", qr/value 1 out of bounds for option "m"/ ],
	[ "omenhnsw_build_estimate(10, 128, 16, 'nope_ops')",
		qr/operator class "nope_ops" does not exist for access method "omenhnsw"/ ],
	[ "omenhnsw_build_estimate('t128', 'nope')",
		qr/column "nope" of relation "t128" does not exist/ ],
	[ "omenhnsw_build_estimate('t128', 'id')",
		qr/operator class "vector_l2_ops" does not accept data type integer/ ])
{
	my ($call, $msg) = @$bad;
	my ($rc, $out, $err) = $node->psql('postgres', "SELECT * FROM $call");
	like($err, $msg, "$call: clear error");
}
run_sql($node, "CREATE TABLE empty (v vector)");
my ($rc, $out, $err) = $node->psql('postgres',
	"SELECT * FROM omenhnsw_build_estimate('empty', 'v')");
like($err, qr/column "v" has no dimensions and no non-NULL value/,
	'an empty column without a dimension: clear error');

$node->stop;
done_testing();
