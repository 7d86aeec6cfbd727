# Sharded k-NN: a coordinator whose partitioned table "items" has two
# postgres_fdw foreign partitions, one per shard cluster, each with an
# omenhnsw index.  Checks that a k-NN query over the parent sends ORDER BY
# ... LIMIT to every shard (constant, parameter and OFFSET limits, with and
# without use_remote_estimate), that each shard sends at most k rows
# (counted on the shard by pg_stat_statements), that the coordinator's
# search settings reach the shards, the recall against one node with the
# same rows, the error of a shard that is down or fails while the other
# waits for a lock, a statement_timeout in a savepoint, and the queries that
# must keep today's plans.  By default a Sort over omendb's shard scan,
# which sends every shard its query at once without cursors, runs the
# query; its answers (system columns and unselected NOT NULL domain
# columns included) are those of core's plans over the same limited
# foreign scans, and it runs postgres_fdw's cursors instead when the limit
# is NULL or the rows would not fit in work_mem.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

# omendb's planner does the pushdown; other extensions have nothing to test
plan skip_all => 'omendb only'
  if ($ENV{OMEN_EXTENSION} || 'omendb') ne 'omendb';

my $rows = 20000;
my $dim = 32;
my $half = $rows / 2;
my $k = 10;

# The same pseudo-random vector for an id on every node.
my $gen_vec = qq{
CREATE FUNCTION gen_vec(i bigint) RETURNS vector LANGUAGE sql IMMUTABLE AS
\$\$ SELECT array_agg((hashint8(i * $dim + d) % 1000000) / 1000000.0 ORDER BY d)::real[]::vector
    FROM generate_series(1, $dim) d \$\$;};

my @shards;
for my $s (1, 2)
{
	my $node = omen_node(
		"shard$s",
		conf => q{
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track_utility = on
});
	my ($lo, $hi) = (($s - 1) * $half + 1, $s * $half);
	$node->safe_psql(
		'postgres', qq{
CREATE EXTENSION omendb;
CREATE EXTENSION pg_stat_statements;
$gen_vec
CREATE TABLE t (id bigint PRIMARY KEY, v vector($dim));
INSERT INTO t SELECT i, gen_vec(i) FROM generate_series($lo, $hi) i;
CREATE INDEX ON t USING omenhnsw (v vector_l2_ops);
ANALYZE t;
CREATE VIEW settings AS SELECT current_setting('omenhnsw.ef_search') AS ef_search,
  current_setting('omenhnsw.iterative_scan') AS iterative_scan,
  current_setting('omenhnsw.max_scan_tuples') AS max_scan_tuples,
  current_setting('omenhnsw.scan_mem_multiplier') AS scan_mem_multiplier;});
	push @shards, $node;
}

my $coord = omen_node('coord');
my $setup = qq{
CREATE EXTENSION omendb;
CREATE EXTENSION postgres_fdw;
$gen_vec
CREATE TABLE single (id bigint PRIMARY KEY, v vector($dim));
INSERT INTO single SELECT i, gen_vec(i) FROM generate_series(1, $rows) i;
CREATE INDEX ON single USING omenhnsw (v vector_l2_ops);
ANALYZE single;
CREATE TABLE queries AS SELECT g AS qid, gen_vec(-g) AS v FROM generate_series(1, 50) g;
CREATE TABLE items (id bigint, v vector($dim)) PARTITION BY RANGE (id);
};
for my $s (1, 2)
{
	my $node = $shards[ $s - 1 ];
	my ($lo, $hi) = (($s - 1) * $half + 1, $s * $half + 1);
	my $port = $node->port;
	my $host = $node->host;
	$setup .= qq{
CREATE SERVER s$s FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '$host', port '$port', dbname 'postgres', extensions 'omendb');
CREATE USER MAPPING FOR CURRENT_USER SERVER s$s;
CREATE FOREIGN TABLE items_$s PARTITION OF items FOR VALUES FROM ($lo) TO ($hi)
  SERVER s$s OPTIONS (table_name 't');
CREATE FOREIGN TABLE settings_$s (ef_search text, iterative_scan text,
  max_scan_tuples text, scan_mem_multiplier text) SERVER s$s OPTIONS (table_name 'settings');
};
}
$coord->safe_psql('postgres', $setup . 'ANALYZE items;');

my $q1 = $coord->safe_psql('postgres', 'SELECT v FROM queries WHERE qid = 1');
my $knn = "SELECT id FROM items ORDER BY v <-> '$q1' LIMIT $k";

# The Remote SQL lines of a query's verbose plan.
sub remote_sql
{
	my ($query, $settings) = @_;
	my $plan = $coord->safe_psql('postgres',
		($settings // '') . "EXPLAIN (VERBOSE, COSTS OFF) $query");
	return [ $plan =~ /Remote SQL: (.*)/g ];
}

sub all_limited
{
	my ($sqls, $limit, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( @$sqls == 2
		  && !grep({ !/ORDER BY .* LIMIT \Q$limit\E(\) s ORDER BY \d+)?$/ } @$sqls),
		$name)
	  or diag(join("\n", @$sqls));
	return;
}

sub none_limited
{
	my ($sqls, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok(@$sqls >= 1 && !grep({ /LIMIT/ } @$sqls), $name)
	  or diag(join("\n", @$sqls));
	return;
}

# Constant, parameter and OFFSET limits.
all_limited(remote_sql($knn), "${k}::bigint",
	'a constant LIMIT reaches every shard');
my $sqls = remote_sql($knn);
ok( !grep({
			!/omenhnsw_search\(.*, \$\d+::integer, \$\d+::text, \$\d+::integer, \$\d+::double precision\)/
		} @$sqls),
	'the shipped ORDER BY carries the search settings as parameters')
  or diag(join("\n", @$sqls));

# The distance, not the vector: when the query needs the vector for nothing
# else, each shard sends the distance of its rows instead of their vectors.
$sqls = remote_sql($knn);
ok( @$sqls == 2 && !grep({
			!/^SELECT id, NULL, \(v OPERATOR.*\) FROM \(SELECT id, v FROM public\.t ORDER BY .* LIMIT ${k}::bigint\) s ORDER BY 3$/
		} @$sqls),
	'a query that selects no vector gets distances from the shards, not vectors')
  or diag(join("\n", @$sqls));
my $with_distance =
  "SELECT id, v <-> '$q1' AS d FROM items ORDER BY v <-> '$q1' LIMIT $k";
my $with_vector =
  "SELECT id, v <-> '$q1' AS d, v IS NOT NULL AS has_v FROM items ORDER BY v <-> '$q1' LIMIT $k";
$sqls = remote_sql($with_vector);
ok(@$sqls == 2 && !grep({ !/^SELECT id, v FROM public\.t ORDER BY/ } @$sqls),
	'a query that selects the vector gets the vectors')
  or diag(join("\n", @$sqls));
is( $coord->safe_psql('postgres', $with_distance),
	$coord->safe_psql('postgres', "SELECT id, d FROM ($with_vector) s"),
	"the shards' distances are those the coordinator computes from the vectors");

# The settings in force on both shards after a query, in the coordinator's
# transaction (whose shard connections the query used), one line per shard.
sub shard_settings
{
	my ($query, $settings) = @_;
	return $coord->safe_psql(
		'postgres', qq{BEGIN;
$settings
\\o /dev/null
$query;
\\o
SELECT * FROM settings_1 UNION ALL SELECT * FROM settings_2;
COMMIT;});
}
my $all_set = "77|relaxed_order|1234|7.5\n" x 2;
chomp $all_set;
is( shard_settings(
		$knn,
		'SET LOCAL omenhnsw.ef_search = 77; SET LOCAL omenhnsw.iterative_scan = relaxed_order;'
		  . 'SET LOCAL omenhnsw.max_scan_tuples = 1234; SET LOCAL omenhnsw.scan_mem_multiplier = 7.5;'
	),
	$all_set,
	'every search setting of the coordinator, scan_mem_multiplier included, reaches the shards');
like(
	shard_settings(
		$knn,
		'SET LOCAL hnsw.ef_search = 55; SET LOCAL hnsw.scan_mem_multiplier = 2.5;'),
	qr/^55\|strict_order\|20000\|2.5\n55\|strict_order\|20000\|2.5$/,
	"pgvector's hnsw.ef_search and hnsw.scan_mem_multiplier reach the shards");

# A cached generic plan sends the settings of each execution.
my $generic = 'SET plan_cache_mode = force_generic_plan; '
  . 'PREPARE g(vector) AS SELECT id FROM items ORDER BY v <-> $1 LIMIT 10;';
is( shard_settings(
		"EXECUTE g('$q1'); SET LOCAL omenhnsw.ef_search = 77; "
		  . 'SET LOCAL omenhnsw.iterative_scan = relaxed_order; '
		  . 'SET LOCAL omenhnsw.max_scan_tuples = 1234; '
		  . "SET LOCAL omenhnsw.scan_mem_multiplier = 7.5; EXECUTE g('$q1')",
		$generic),
	$all_set,
	'a generic plan planned before a SET sends the settings in force when it runs');
all_limited(
	remote_sql("SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10 OFFSET 5"),
	'15::bigint', 'LIMIT 10 OFFSET 5 sends LIMIT 15 to every shard');
my $prepare = 'PREPARE p(vector, bigint, bigint) AS SELECT id FROM items '
  . 'ORDER BY v <-> $1 LIMIT $2 OFFSET $3;';
all_limited(
	remote_sql("EXECUTE p('$q1', 10, 5)",
		"SET plan_cache_mode = force_generic_plan; $prepare"),
	'(CASE WHEN ($6::bigint > (9223372036854775807::bigint - $7::bigint)) '
	  . 'THEN NULL::bigint ELSE ($6::bigint + $7::bigint) END)',
	'a generic plan sends LIMIT $2 + $3, or none past the int8 range, to every shard');
all_limited(
	remote_sql("EXECUTE p('$q1', 10, 5)",
		"SET plan_cache_mode = force_custom_plan; $prepare"),
	'15::bigint', 'a custom plan sends the computed limit');

my $offset_rows = $coord->safe_psql('postgres',
	"SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10 OFFSET 5");
my $all15 = $coord->safe_psql('postgres',
	"SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 15");
is($offset_rows, join("\n", (split /\n/, $all15)[ 5 .. 14 ]),
	'LIMIT 10 OFFSET 5 returns rows 6 to 15');
is( $coord->safe_psql(
		'postgres', "SET plan_cache_mode = force_generic_plan; $prepare
		 EXECUTE p('$q1', 10, 5)"),
	$offset_rows,
	'the generic plan returns the same rows');
my @past_int8 = split /\n/,
  $coord->safe_psql('postgres',
	"SET plan_cache_mode = force_generic_plan; $prepare
	 EXECUTE p('$q1', 9223372036854775807, 5)");
is(join("\n", @past_int8[ 0 .. 9 ]), $offset_rows,
	'a generic plan whose LIMIT + OFFSET passes the int8 range returns rows from the sixth on');

# Rows each shard sends, counted by pg_stat_statements on the shard: those
# of its cursors' FETCHes and of its plain SELECTs of the table; and the
# number of cursors it declared.
sub fetched_rows
{
	my ($query, $settings) = @_;
	$_->safe_psql('postgres', 'SELECT pg_stat_statements_reset()') for @shards;
	$coord->safe_psql('postgres', ($settings // '') . $query);
	return [
		map {
			$_->safe_psql('postgres',
				q{SELECT coalesce(sum(rows), 0) FROM pg_stat_statements
				  WHERE query LIKE 'FETCH %' OR query LIKE 'SELECT %public.t %'}
			)
		} @shards
	];
}

sub declared_cursors
{
	return join ' ',
	  map {
		$_->safe_psql('postgres',
			q{SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE 'DECLARE %'}
		)
	  } @shards;
}

sub at_most_k_each
{
	my ($sent, $name) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	ok( $sent->[0] > 0 && $sent->[0] <= $k && $sent->[1] > 0 && $sent->[1] <= $k,
		$name)
	  or diag("rows sent: @$sent");
	return;
}

my $sent = fetched_rows($knn);
at_most_k_each($sent, "each shard sends at most $k rows");
is(declared_cursors(), '0 0', 'the shard scan declares no cursor');
$sent = fetched_rows($knn, 'SET omenhnsw.enable_shard_scan = off;');
at_most_k_each($sent, "without the shard scan each shard sends at most $k rows");
is(declared_cursors(), '1 1', 'without the shard scan each shard runs a cursor');

# The queries the shard scan runs: each plan's, and its answer against the
# plan without the shard scan (core's Merge Append or Sort over an async
# Append of the same limited foreign scans).
my $shard_scan_plan = qr/Sort.*Custom Scan \(OmenShardScan\).*Foreign Scan.*Foreign Scan/s;
my $no_shard_scan = 'SET omenhnsw.enable_shard_scan = off;';
my ($ret, $stdout, $stderr, $plan);
my @same_answer_cases = (
	[ 'a constant LIMIT', '', $knn ],
	[ 'the distance selected', '', $with_distance ],
	[ 'the vector selected', '', $with_vector ],
	[
		'tableoid selected', '',
		"SELECT id, tableoid::regclass, v <-> '$q1' FROM items ORDER BY v <-> '$q1' LIMIT $k"
	],
	[
		'xmin, xmax and cmin selected', '',
		"SELECT id, xmin, xmax, cmin FROM items ORDER BY v <-> '$q1' LIMIT $k"
	],
	[
		'LIMIT and OFFSET', '',
		"SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 10 OFFSET 5"
	],
	[
		'a shippable qual', '',
		"SELECT id FROM items WHERE id % 3 = 0 ORDER BY v <-> '$q1' LIMIT $k"
	],
	[
		'a generic plan of LIMIT $2 OFFSET $3',
		"SET plan_cache_mode = force_generic_plan; $prepare",
		"EXECUTE p('$q1', 7, 2)"
	],
	[
		'a custom plan of LIMIT $2 OFFSET $3',
		"SET plan_cache_mode = force_custom_plan; $prepare",
		"EXECUTE p('$q1', 7, 2)"
	],
	[
		'a rescan with each query vector of a correlated subquery',
		'',
		"SELECT qid, (SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY v <-> q.v LIMIT 3) s)
		 FROM queries q WHERE qid <= 5 ORDER BY qid"
	]);

sub same_answers
{
	my ($options) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	for my $case (@same_answer_cases)
	{
		my ($name, $setup, $query) = @$case;
		my $plan = $coord->safe_psql('postgres',
			"$setup\nEXPLAIN (COSTS OFF) $query");
		my $got = $coord->safe_psql('postgres', "$setup\n$query");
		my $expected = $coord->safe_psql('postgres',
			"SET omenhnsw.enable_shard_scan = off; $setup\n$query");
		ok( $plan =~ $shard_scan_plan && $got eq $expected && $got ne '',
			"$options, $name: the shard scan answers as core's plan does")
		  or diag("$plan\ngot:\n$got\nexpected:\n$expected");
	}
	return;
}
same_answers('by default');

# A NOT NULL domain column that no shard query fetches stays NULL, without
# its input function (which would reject the NULL).
$coord->safe_psql('postgres',
	'CREATE DOMAIN not_null_text AS text NOT NULL; ALTER TABLE items ADD COLUMN tag not_null_text'
);
($ret, $stdout, $stderr) = $coord->psql('postgres', $with_vector);
ok( $ret == 0
	  && $stdout eq $coord->safe_psql('postgres', $no_shard_scan . $with_vector)
	  && $coord->safe_psql('postgres', "EXPLAIN (COSTS OFF) $with_vector") =~
	  $shard_scan_plan,
	'a NOT NULL domain column the query does not select leaves the shard scan as it was'
) or diag($stderr);
$coord->safe_psql('postgres',
	'ALTER TABLE items DROP COLUMN tag; DROP DOMAIN not_null_text');

# Each shard's rows are held until the scan ends: a NULL limit (a generic
# plan of LIMIT $2 run with NULL), or more rows than work_mem holds, runs
# postgres_fdw's cursors instead, which fetch in batches.
my $null_limit = 'SET plan_cache_mode = force_generic_plan; '
  . 'PREPARE nl(vector, bigint) AS SELECT id FROM items ORDER BY v <-> $1 LIMIT $2;';
$sent = fetched_rows("EXECUTE nl('$q1', NULL)", $null_limit);
ok( $coord->safe_psql('postgres', "$null_limit EXPLAIN (COSTS OFF) EXECUTE nl('$q1', NULL)")
	  =~ $shard_scan_plan
	  && declared_cursors() eq '1 1'
	  && $sent->[0] == $half
	  && $sent->[1] == $half,
	'a generic plan of LIMIT $2 run with NULL fetches every row through cursors'
) or diag("rows sent: @$sent, cursors: " . declared_cursors());
my $wide = "SELECT id FROM items ORDER BY v <-> '$q1' LIMIT 500";
$sent = fetched_rows($wide, "SET work_mem = '64kB';");
ok( $coord->safe_psql('postgres', "SET work_mem = '64kB'; EXPLAIN (COSTS OFF) $wide")
	  =~ $shard_scan_plan
	  && declared_cursors() eq '1 1'
	  && $coord->safe_psql('postgres', "SET work_mem = '64kB'; $wide") eq
	  $coord->safe_psql('postgres', "$no_shard_scan $wide"),
	'rows beyond work_mem are fetched through cursors, with the same answer')
  or diag("rows sent: @$sent, cursors: " . declared_cursors());
$sent = fetched_rows($wide);
is(declared_cursors(), '0 0', 'with the default work_mem those rows are sent at once');

# A pseudoconstant qual makes each partition's plan a gating Result over
# its scan, which would run as a cursor one shard after another: no shard
# scan.
my $gated =
  "SELECT id FROM items WHERE current_setting('omenhnsw.ef_search')::int > 0 ORDER BY v <-> '$q1' LIMIT $k";
ok( $coord->safe_psql('postgres', "EXPLAIN (COSTS OFF) $gated") !~
	  /OmenShardScan/
	  && $coord->safe_psql('postgres', $gated) eq
	  $coord->safe_psql('postgres', $no_shard_scan . $gated),
	'a pseudoconstant qual gets no shard scan, and the same answer');

# EXPLAIN ANALYZE counts the rows of the children the shard scan runs.
$plan = $coord->safe_psql('postgres',
	"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) $knn");
ok( $plan =~ /OmenShardScan.*Foreign Scan \(actual rows=$k loops=1\).*Foreign Scan \(actual rows=$k loops=1\)/s
	  && $plan !~ /never executed/,
	'EXPLAIN ANALYZE shows the rows of each shard')
  or diag($plan);

# A prepared "LIMIT $2" statement run seven times as an application would,
# under the default plan_cache_mode: the number of generic plans it made
# and the plan it then runs.
sub prepared_limit_param
{
	my ($settings) = @_;
	my $out = $coord->safe_psql(
		'postgres', ($settings // '') . qq{PREPARE n(vector, bigint) AS
  SELECT id FROM items ORDER BY v <-> \$1 LIMIT \$2;
\\o /dev/null
} . ("EXECUTE n('$q1', $k);\n" x 7) . qq{\\o
SELECT generic_plans FROM pg_prepared_statements WHERE name = 'n';
EXPLAIN (COSTS OFF) EXECUTE n('$q1', $k);});
	my ($generic_plans, $plan) = split /\n/, $out, 2;
	return ($generic_plans, $plan);
}

# A qual the shards cannot run: every row a shard sends may be filtered out.
$coord->safe_psql('postgres',
	'CREATE FUNCTION local_even(bigint) RETURNS bool LANGUAGE sql IMMUTABLE AS $$ SELECT $1 % 2 = 0 $$'
);
none_limited(
	remote_sql(
		"SELECT id FROM items WHERE local_even(id + 0 * random()::int) ORDER BY v <-> '$q1' LIMIT $k"
	),
	'a qual run on the coordinator keeps the shards unlimited');

# use_remote_estimate: the shards' own estimates, the same limits.
$coord->safe_psql('postgres',
	"ALTER SERVER s$_ OPTIONS (ADD use_remote_estimate 'true')")
  for (1, 2);
all_limited(remote_sql($knn), "${k}::bigint",
	'with use_remote_estimate the LIMIT reaches every shard');
$sent = fetched_rows($knn);
at_most_k_each($sent,
	"with use_remote_estimate each shard sends at most $k rows");
my ($generic_plans, $generic_plan) = prepared_limit_param();
ok( $generic_plans > 0 && $generic_plan =~ $shard_scan_plan,
	'with use_remote_estimate a prepared LIMIT $2 settles on a generic plan (no remote estimates at each execution) of the shard scan'
) or diag("generic plans: $generic_plans\n$generic_plan");
same_answers('with use_remote_estimate');
$coord->safe_psql('postgres',
	"ALTER SERVER s$_ OPTIONS (DROP use_remote_estimate)")
  for (1, 2);

# async_capable: without the shard scan, the shards work at the same time
# under a Sort of their LIMIT rows each, which wins over a Merge Append
# that waits for them in turn.  The shard scan still wins over both.
my $merged = $coord->safe_psql('postgres', $no_shard_scan . $knn);
$coord->safe_psql('postgres',
	"ALTER SERVER s$_ OPTIONS (ADD async_capable 'true')")
  for (1, 2);
$plan =
  $coord->safe_psql('postgres', "$no_shard_scan EXPLAIN (COSTS OFF) $knn");
like($plan, qr/Sort.*Append.*Async Foreign Scan.*Async Foreign Scan/s,
	'with async_capable and no shard scan the plan sorts an async Append');
all_limited(remote_sql($knn), "${k}::bigint",
	'with async_capable the LIMIT reaches every shard');
is($coord->safe_psql('postgres', $no_shard_scan . $knn),
	$merged, 'the async plan returns the rows of the Merge Append');
($generic_plans, $generic_plan) = prepared_limit_param($no_shard_scan);
ok( $generic_plans > 0
	  && $generic_plan =~ /Sort.*Append.*Async Foreign Scan.*Async Foreign Scan/s,
	'with async_capable and no shard scan a prepared LIMIT $2 settles on a generic plan that sorts an async Append'
) or diag("generic plans: $generic_plans\n$generic_plan");
($generic_plans, $generic_plan) = prepared_limit_param();
ok( $generic_plans > 0 && $generic_plan =~ $shard_scan_plan,
	'with async_capable a prepared LIMIT $2 settles on a generic plan of the shard scan'
) or diag("generic plans: $generic_plans\n$generic_plan");
same_answers('with async_capable');
like(
	$coord->safe_psql(
		'postgres',
		"$no_shard_scan SET enable_async_append = off; EXPLAIN (COSTS OFF) $knn"),
	qr/Merge Append/,
	'without async Append or the shard scan the plan is a Merge Append');
$coord->safe_psql('postgres',
	"ALTER SERVER s$_ OPTIONS (DROP async_capable)")
  for (1, 2);

# Two partitions on one server share postgres_fdw's connection, which runs
# one query at a time: no shard scan, the limits all the same.  (The other
# partition's rows are far from the query, so the answer stays.)
$shards[0]->safe_psql(
	'postgres', qq{CREATE TABLE t_more AS
  SELECT $rows + 1 AS id, array_fill(100, ARRAY[$dim])::vector($dim) AS v
  FROM generate_series(1, 100);});
$coord->safe_psql(
	'postgres', qq{
CREATE FOREIGN TABLE items_more PARTITION OF items FOR VALUES FROM ($rows + 1) TO ($rows + 2)
  SERVER s1 OPTIONS (table_name 't_more');
ANALYZE items_more;});
$sqls = remote_sql($knn);
ok( @$sqls == 3
	  && !grep({ !/LIMIT ${k}::bigint/ } @$sqls)
	  && $coord->safe_psql('postgres', "EXPLAIN (COSTS OFF) $knn") !~
	  /OmenShardScan/
	  && $coord->safe_psql('postgres', $knn) eq $merged,
	'partitions sharing a server get no shard scan, and still send LIMIT rows')
  or diag(join("\n", @$sqls));
$coord->safe_psql('postgres', 'DROP FOREIGN TABLE items_more');

# A local partition mixed in: the foreign ones still send LIMIT rows, the
# local one is searched with its own index.
$coord->safe_psql(
	'postgres', qq{
CREATE TABLE items_local PARTITION OF items FOR VALUES FROM ($rows + 1) TO ($rows + 1001);
INSERT INTO items_local SELECT i, gen_vec(i) FROM generate_series($rows + 1, $rows + 999) i;
INSERT INTO items_local VALUES ($rows + 1000, '$q1');
CREATE INDEX ON items_local USING omenhnsw (v vector_l2_ops);
ANALYZE items_local;});
all_limited(remote_sql($knn), "${k}::bigint",
	'with a local partition mixed in the LIMIT reaches every shard');
my @mixed = split /\n/, $coord->safe_psql('postgres', $knn);
ok(@mixed == $k && $mixed[0] == $rows + 1000,
	'the local partition contributes its nearest row');
$coord->safe_psql('postgres', 'DROP TABLE items_local');

# Queries whose answer a per-shard limit could change keep their plans.
my %unlimited = (
	'a window function' =>
	  "SELECT id, count(*) OVER () FROM items ORDER BY v <-> '$q1' LIMIT $k",
	'DISTINCT' =>
	  "SELECT DISTINCT id, v <-> '$q1' FROM items ORDER BY v <-> '$q1' LIMIT $k",
	'WITH TIES' =>
	  "SELECT id FROM items ORDER BY v <-> '$q1' FETCH FIRST $k ROWS WITH TIES",
	'an aggregate' =>
	  "SELECT min(v <-> '$q1') FROM items GROUP BY id % 3 ORDER BY 1 LIMIT $k",
	'a join' =>
	  "SELECT i.id FROM items i JOIN queries q ON q.qid = i.id ORDER BY i.v <-> '$q1' LIMIT $k",
	'FOR UPDATE' =>
	  "SELECT id FROM items ORDER BY v <-> '$q1' LIMIT $k FOR UPDATE",
	'a set-returning function' =>
	  "SELECT id, generate_series(1, 2) FROM items ORDER BY v <-> '$q1' LIMIT $k",
	'a non-distance order' => "SELECT id FROM items ORDER BY id LIMIT $k",);
for my $case (sort keys %unlimited)
{
	none_limited(remote_sql($unlimited{$case}), "$case: no LIMIT is sent");
}

# Search settings: with iterative scans off, a shard's scan returns at most
# ef_search rows, so the coordinator's ef_search bounds what each sends.
$sent = fetched_rows($knn,
	'SET omenhnsw.iterative_scan = off; SET omenhnsw.ef_search = 3;');
ok($sent->[0] < $k && $sent->[1] < $k,
	"the coordinator's ef_search = 3 without iterative scans makes each shard send fewer than $k rows"
) or diag("rows sent: @$sent");

# Recall@k of the sharded query against the same query on one node.
sub recall
{
	my ($table, $settings) = @_;
	return $coord->safe_psql(
		'postgres', qq{$settings
CREATE TEMP TABLE got AS SELECT qid, (SELECT array_agg(id) FROM
  (SELECT id FROM $table ORDER BY v <-> q.v LIMIT $k) s) AS ids FROM queries q;
SET enable_indexscan = off;
SELECT avg((SELECT count(*) FROM unnest(g.ids) x WHERE x IN
  (SELECT id FROM single ORDER BY v <-> q.v LIMIT $k)) / $k.0)
FROM got g JOIN queries q USING (qid);});
}
my $low = 'SET omenhnsw.iterative_scan = off; SET omenhnsw.ef_search = 10;';
my $sharded_low = recall('items', $low);
my $sharded = recall('items', 'SET omenhnsw.ef_search = 100;');
my $single = recall('single', 'SET omenhnsw.ef_search = 100;');
note("recall\@$k: sharded $sharded (ef_search 10: $sharded_low), one node $single");
ok($sharded_low < $sharded - 0.05,
	"the coordinator's ef_search changes the shards' recall ($sharded_low < $sharded)");
ok($sharded >= $single - 0.01,
	"sharded recall $sharded is within 0.01 of one node's $single");

# A row whose distance is NULL comes last, as in core's plans.
$shards[0]->safe_psql('postgres', 'UPDATE t SET v = NULL WHERE id = 3');
my $with_null =
  "SELECT id FROM items WHERE id <= 5 OR id > $rows - 5 ORDER BY v <-> '$q1' LIMIT $k";
my @null_last = split /\n/, $coord->safe_psql('postgres', $with_null);
ok( @null_last == $k
	  && $null_last[-1] == 3
	  && $coord->safe_psql('postgres', "EXPLAIN (COSTS OFF) $with_null") =~
	  $shard_scan_plan
	  && join("\n", @null_last) eq
	  $coord->safe_psql('postgres', $no_shard_scan . $with_null),
	'a row of NULL distance comes last, as without the shard scan')
  or diag(join ' ', @null_last);
$shards[0]->safe_psql('postgres', 'UPDATE t SET v = gen_vec(3) WHERE id = 3');

# A shard whose query fails: its error, naming its server.
$shards[1]->safe_psql('postgres', 'ALTER TABLE t RENAME TO t_away');
($ret, $stdout, $stderr) = $coord->psql('postgres', $knn);
ok( $ret != 0
	  && $stderr =~ /relation "public.t" does not exist/
	  && $stderr =~ /k-NN query of foreign server "s2"/,
	'a shard whose query fails gives its error, naming its server')
  or diag($stderr);
$shards[1]->safe_psql('postgres', 'ALTER TABLE t_away RENAME TO t');

# A shard whose query fails while the other's waits for a lock on its
# table: the error comes back (postgres_fdw cancels the waiting query as
# the transaction aborts), and the session's next query works.
my $locker = $shards[1]->background_psql('postgres');
my $session = $coord->background_psql('postgres', on_error_stop => 0);

# The output and the errors of queries in the coordinator's session.
sub in_session
{
	my ($sql) = @_;
	$session->{stderr} = '';
	my $out = $session->query($sql);
	return ($out, $session->{stderr});
}
$locker->query_safe('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;');
$shards[0]->safe_psql('postgres', 'ALTER TABLE t RENAME TO t_away');
($stdout, $stderr) = in_session("$knn;");
ok( $stderr =~ /relation "public.t" does not exist/
	  && $stderr =~ /k-NN query of foreign server "s1"/,
	"a shard's error comes back while the other shard's query waits for a lock"
) or diag($stderr);
$shards[0]->safe_psql('postgres', 'ALTER TABLE t_away RENAME TO t');
$locker->query_safe('COMMIT;');
($stdout, $stderr) = in_session("$knn;");
ok($stderr eq '' && $stdout eq $merged, 'the next query of the session works')
  or diag($stderr);

# A statement_timeout while a shard waits for a lock, in a savepoint: after
# ROLLBACK TO, the transaction's next query works.
$locker->query_safe('BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE;');
($stdout, $stderr) = in_session(
	"BEGIN; SAVEPOINT a; SET LOCAL statement_timeout = '500ms'; $knn;");
ok($stderr =~ /statement timeout/,
	'a query waiting for a shard ends at the statement_timeout')
  or diag($stderr);
$locker->query_safe('COMMIT;');
($stdout, $stderr) = in_session("ROLLBACK TO a; $knn; COMMIT;");
ok($stderr eq '' && $stdout eq $merged,
	'after ROLLBACK TO, the next query of the transaction works')
  or diag($stderr);
$locker->quit;
$session->quit;

# A shard that is down: an error naming its server, no partial answer.
$shards[1]->stop;
($ret, $stdout, $stderr) = $coord->psql('postgres', $knn);
ok($ret != 0 && $stderr =~ /could not connect to server "s2"/,
	'a shard that is down gives an error naming its server')
  or diag($stderr);
$shards[1]->start;
all_limited(remote_sql($knn), "${k}::bigint", 'the restarted shard answers');

done_testing();
