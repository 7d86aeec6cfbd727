# A pgvector database moves over.  data/pgvector_dump.sql is pg_dump's plain
# output of a database made with pgvector 0.8.6 (data/make_pgvector_dump.sh):
# vector, halfvec, sparsevec and bit columns, NULLs, typmods, a generated
# column and HNSW indexes of every type's operator classes.  It is rewritten as
# a user would (CREATE EXTENSION ... vector becomes omendb's, USING hnsw
# becomes USING omenhnsw) and restored with psql.  The only error is the
# COMMENT on extension vector: omenhnsw has the operator class of every
# index, and every index is built.
# Every row comes back as the dump has it and as pgvector printed it
# (data/pgvector_dump.expected), each index answers k-NN queries in an exact
# scan's order with pgvector's hnsw.ef_search set, and verifies clean.  Then
# the database goes through pg_dump -Fc and pg_restore into another server,
# with the same rows, indexes and answers.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use IPC::Run;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $ext = $ENV{OMEN_EXTENSION} || 'omendb';
my $data = "$FindBin::RealBin/data";
my $dump = slurp_file("$data/pgvector_dump.sql");

# table => [rows, md5 of pgvector's text form of its rows ordered by id]
my %expected;
for (split /\n/, slurp_file("$data/pgvector_dump.expected"))
{
	my ($table, $rows, $md5) = split / /;
	$expected{$table} = [ $rows, $md5 ];
}

# The dump's COPY blocks: "public.table (columns)" => its data lines.
my %copies;
while ($dump =~ /^COPY (\S+ \([^)]*\)) FROM stdin;\n(.*?)^\\\.$/msg)
{
	$copies{$1} = $2;
}
is(scalar(keys %copies), scalar(keys %expected), 'the dump has a COPY block per table');

# The dump's indexes: name => operator class.
my %dumped_index = $dump =~ /^CREATE INDEX (\w+) ON \S+ USING hnsw \(.*? public\.(\w+)\)/mg;
ok(keys %dumped_index >= 8, 'the dump has HNSW indexes');

# The user's two substitutions.
(my $script = $dump) =~ s/^CREATE EXTENSION IF NOT EXISTS vector /CREATE EXTENSION IF NOT EXISTS $ext /m;
$script =~ s/ USING hnsw / USING omenhnsw /g;

my $node = omen_node('pgvector_dump');
my $file = $node->basedir . '/migrated.sql';
open my $fh, '>', $file or die "cannot write $file: $!";
print $fh $script;
close $fh;

# psql as a user runs it: errors are reported and the script goes on
my ($out, $err) = ('', '');
IPC::Run::run([ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-f', $file ],
	'>', \$out, '2>', \$err)
  or note "psql exited with $?";
my @errors = sort map { /ERROR:  (.*)$/ ? $1 : () } split /\n/, $err;

my %have_opclass = map { $_ => 1 } split /\n/, $node->safe_psql('postgres',
	"SELECT opcname FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod WHERE amname = 'omenhnsw'");
my @missing = sort grep { !$have_opclass{ $dumped_index{$_} } } keys %dumped_index;
note 'operator classes omenhnsw does not have: '
  . join(', ', map { "$dumped_index{$_} ($_)" } @missing)
  if @missing;
is_deeply(\@missing, [], 'omenhnsw has the operator classes of every index');
is_deeply(\@errors, ['extension "vector" does not exist'],
	'the restore fails only on the comment of extension vector')
  or diag($err);

my @built = sort grep { $have_opclass{ $dumped_index{$_} } } keys %dumped_index;
is( $node->safe_psql(
		'postgres', qq{SELECT string_agg(c.relname, ',' ORDER BY c.relname)
FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE amname = 'omenhnsw'}),
	join(',', @built),
	'every index of an operator class omenhnsw has is built');

# Every table's rows, as the dump has them and as pgvector printed them.
sub rows_ok
{
	my ($n, $when) = @_;
	for my $copy (sort keys %copies)
	{
		my $got = $n->safe_psql('postgres', "COPY $copy TO STDOUT");
		is("$got\n", $copies{$copy}, "$when: COPY $copy gives the dump's lines");
	}
	for my $table (sort keys %expected)
	{
		is( $n->safe_psql(
				'postgres',
				"SELECT count(*) || ' ' || md5(string_agg(t::text, E'\\n' ORDER BY id)) FROM $table t"),
			join(' ', @{ $expected{$table} }),
			"$when: the text form of $table is pgvector's");
	}
	return;
}

# Each omenhnsw index: ids and distances of the 10 nearest rows to a few
# rows' own keys, through the index (enable_seqscan off) and by an exact
# scan; the verifier is clean.  Where the exact distances tie, the ids
# among equal distances may come in any order, so only the distances count.
sub indexes_ok
{
	my ($n, $when) = @_;
	my @indexes = split /\n/, $n->safe_psql(
		'postgres', q{
SELECT c.relname, t.relname, pg_get_indexdef(c.oid, 1, true),
	format_type(att.atttypid, att.atttypmod), o.oprname
FROM pg_index i
	JOIN pg_class c ON c.oid = i.indexrelid
	JOIN pg_class t ON t.oid = i.indrelid
	JOIN pg_am a ON a.oid = c.relam
	JOIN pg_attribute att ON att.attrelid = c.oid AND att.attnum = 1
	JOIN pg_opclass opc ON opc.oid = i.indclass[0]
	JOIN pg_amop ao ON ao.amopfamily = opc.opcfamily AND ao.amoppurpose = 'o'
		AND ao.amoplefttype = opc.opcintype
	JOIN pg_operator o ON o.oid = ao.amopopr
WHERE a.amname = 'omenhnsw'
ORDER BY 1});
	is(scalar(@indexes), scalar(@built), "$when: every omenhnsw index is there");
	for (@indexes)
	{
		my ($index, $table, $key, $type, $op) = split /\|/;
		my @queries = split /\n/, $n->safe_psql('postgres',
			"SELECT ($key)::text FROM $table WHERE ($key) IS NOT NULL ORDER BY id LIMIT 4 OFFSET 20");
		my ($same, $total) = (0, 0);
		for my $q (@queries)
		{
			my $dist = "($key) $op '$q'::$type";
			my $knn = "SELECT id, $dist FROM $table ORDER BY $dist LIMIT 10";
			my $plan = $n->safe_psql('postgres',
				"SET enable_seqscan = off; EXPLAIN (COSTS OFF) $knn");
			like($plan, qr/Index Scan using $index /, "$when: $index orders the query")
			  if $total == 0;
			my $by_index = $n->safe_psql('postgres',
				"SET enable_seqscan = off; SET hnsw.ef_search = 400; $knn");
			my $exact = $n->safe_psql('postgres',
				"SET enable_indexscan = off; SET enable_bitmapscan = off; $knn");
			my @d = map { (split /\|/)[1] } split /\n/, $exact;
			my %seen;
			my $ties = grep { $seen{$_}++ } @d;
			my $keep = $ties ? sub { (split /\|/)[1] } : sub { $_ };
			$total++;
			$same++
			  if join(',', map { $keep->() } split /\n/, $by_index) eq
			  join(',', map { $keep->() } split /\n/, $exact)
			  and @d == 10;
		}
		is($same, $total, "$when: $index answers $total queries as an exact scan does");
		verify_clean($n, $index, "$when: $index verifies clean");
	}
	return;
}

rows_ok($node, 'pgvector dump restored');
indexes_ok($node, 'pgvector dump restored');

# pg_dump -Fc of the migrated database, pg_restore into another server
my $archive = $node->basedir . '/migrated.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('postgres'), '-f', $archive ],
	'pg_dump -Fc of the migrated database');
my $node2 = omen_node('pg_restore');
$node2->command_ok(
	[ 'pg_restore', '--exit-on-error', '-d', $node2->connstr('postgres'), $archive ],
	'pg_restore into another server');
my $indexdefs = q{SELECT string_agg(indexdef, E'\n' ORDER BY indexname) FROM pg_indexes
WHERE schemaname = 'public'};
is($node2->safe_psql('postgres', $indexdefs),
	$node->safe_psql('postgres', $indexdefs),
	'pg_restore: the same indexes');
rows_ok($node2, 'pg_restore');
indexes_ok($node2, 'pg_restore');

$node->stop;
$node2->stop;
done_testing();
