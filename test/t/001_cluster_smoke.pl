# Smoke test of the TAP wiring: a fresh node loads the extension, the vector
# type round-trips and computes a distance, and both survive a restart.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

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

$node->stop;
done_testing();
