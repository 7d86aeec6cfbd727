# The element kind in the metapage: an omenhnsw index whose metapage names
# another kind than its operator class's type (here a halfvec index marked
# as holding float4 vectors) is refused by scans and inserts with ERROR
# XX002 (index corrupted) and reported by omenhnsw_verify, never read with
# the wrong vector size.  A 2,000-d halfvec index has 4-bit codes; one of 8
# dimensions built with codes = 'halves' has its halves as codes, which no
# other kind can have: its metapage is refused as damaged by every reader.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = omen_node('elem', extension => 1, conf => ['autovacuum = off']);
$node->safe_psql(
	'postgres', q{
CREATE TABLE h AS
	SELECT i AS id, ARRAY(SELECT sin(i * 3 + j) FROM generate_series(1, 2000) j)::halfvec(2000) AS v
	FROM generate_series(1, 500) i;
CREATE INDEX h_idx ON h USING omenhnsw (v halfvec_l2_ops);
CREATE TABLE h8 AS
	SELECT i AS id, ARRAY(SELECT sin(i * 3 + j) FROM generate_series(1, 8) j)::halfvec(8) AS v
	FROM generate_series(1, 500) i;
CREATE INDEX h8_idx ON h8 USING omenhnsw (v halfvec_l2_ops) WITH (codes = 'halves');
});
is($node->safe_psql('postgres', "SELECT count(*) FROM omenhnsw_verify('h_idx')"),
	'0', 'the halfvec index is healthy');

# OmenMetaPageData.elem (src/README): 2 bytes at offset 36 of the struct,
# which starts after the 24-byte page header of block 0
my %file = map {
	$_ => $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$_')")
} ('h_idx', 'h8_idx');
$node->stop;
foreach my $idx ('h_idx', 'h8_idx')
{
	my $file = $file{$idx};
	open my $fh, '+<:raw', $file or die "open $file: $!";
	sysseek($fh, 24 + 36, 0) or die;
	sysread($fh, my $elem, 2) == 2 or die;
	is(unpack('v', $elem), 2, "$idx: the metapage records the halfvec kind (float2, 2)");
	sysseek($fh, 24 + 36, 0) or die;
	syswrite($fh, pack('v', 1)) == 2 or die;
	close $fh;
}
$node->start;

my $q = q{SET enable_seqscan = off;
SELECT id FROM h ORDER BY v <-> array_fill(1, ARRAY[2000])::halfvec LIMIT 3;};
my ($rc, $out, $err) = $node->psql('postgres', $q,
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/XX002: index "h_idx" holds elements of kind 1, its operator class is for halfvec/,
	'a scan refuses the index with XX002');
($rc, $out, $err) = $node->psql('postgres',
	q{INSERT INTO h VALUES (0, array_fill(1, ARRAY[2000])::halfvec)},
	extra_params => [ '-v', 'VERBOSITY=verbose' ]);
like($err, qr/XX002: index "h_idx" holds elements of kind 1/,
	'an insert refuses the index with XX002');
like(
	$node->safe_psql('postgres', "SELECT * FROM omenhnsw_verify('h_idx')"),
	qr/metapage: element kind 1, the operator class is for halfvec/,
	'omenhnsw_verify reports the wrong kind');
$node->safe_psql('postgres', 'REINDEX INDEX h_idx');
is($node->safe_psql('postgres', "SELECT count(*) FROM omenhnsw_verify('h_idx')"),
	'0', 'REINDEX mends it');

# halves as codes with another kind: every reader refuses the metapage
foreach my $sql (
	q{SET enable_seqscan = off; SELECT id FROM h8 ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 3},
	q{INSERT INTO h8 VALUES (0, '[1,2,3,4,5,6,7,8]')},
	q{SELECT * FROM omenhnsw_verify('h8_idx')},
	q{DELETE FROM h8 WHERE id < 10; VACUUM h8})
{
	($rc, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	like($err, qr/XX002: index "h8_idx" has a damaged metapage: codes of 16 bits/,
		"halves as codes of float4 vectors: refused ($sql)");
}
$node->safe_psql('postgres', 'REINDEX INDEX h8_idx');
is($node->safe_psql('postgres', "SELECT count(*) FROM omenhnsw_verify('h8_idx')"),
	'0', 'REINDEX mends the 8-d index');

$node->stop;
done_testing();
