# Smoke test of the TAP wiring: a fresh node loads the extension, the vector
# type round-trips and computes a distance, and both survive a restart.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $ext = $ENV{OMEN_EXTENSION} || 'omendb';
my $node = omen_node('smoke', extension => 1);
$node->safe_psql('postgres',
	"CREATE TABLE items (id int, v vector(3)); INSERT INTO items VALUES (1, '[1,2.5,-3]')");

sub check_node
{
	my ($when) = @_;
	is($node->safe_psql('postgres', 'SELECT v FROM items WHERE id = 1'),
		'[1,2.5,-3]', "vector round trip $when");
	is($node->safe_psql('postgres', q{SELECT '[1,2]'::vector <-> '[4,6]'}),
		'5', "L2 distance of [1,2] and [4,6] is 5 $when");
}

check_node('after CREATE EXTENSION');
$node->restart;
check_node('after restart');

# versions: a new install is 0.2.0; 0.1.0 updates to it and names the
# omenhnsw indexes that need a REINDEX (a WARNING: extension scripts send no NOTICE)
is($node->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = '$ext'"),
	'0.2.0', 'CREATE EXTENSION installs 0.2.0');
$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('old', qq{
CREATE EXTENSION $ext VERSION '0.1.0';
CREATE TABLE items (id int, v vector(3));
CREATE INDEX items_v ON items USING omenhnsw (v vector_l2_ops);
});
my ($rc, $out, $err) = $node->psql('old', "ALTER EXTENSION $ext UPDATE");
is($rc, 0, 'ALTER EXTENSION UPDATE from 0.1.0 succeeds');
like($err, qr/WARNING:  omenhnsw indexes built by omendb 0.1.0 must be rebuilt: items_v/,
	'the update names the index to rebuild');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = '$ext'"),
	'0.2.0', 'the update reaches 0.2.0');

$node->stop;
done_testing();
