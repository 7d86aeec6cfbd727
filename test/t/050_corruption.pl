# Damaged omenhnsw index pages on disk, as PostgreSQL's amcheck tests damage
# them: with the server stopped, bytes of the index file are overwritten at
# known offsets (the metapage magic and code width, a directory page's kind and its link to
# itself, a search row's length and level, a line pointer leaving the page, a
# link and a vector reference into another segment, links past the index's
# end and past a page's rows, a search row's tightness (it claims its code
# nearer its vector than it is), a vector chunk's length,
# the non-zero count a sparsevec's vector begins with, a data page's kind, a
# segment chain that cycles or leads into a directory page).  After a restart, scans, inserts, walks of queries without
# distances, VACUUM and omenhnsw_verify on each damaged index either succeed or raise
# an ERROR with SQLSTATE XX002 (index corrupted), and never another one;
# where the index cannot be read at all they must raise XX002, and otherwise
# the verifier must report the damage.  No backend may crash: a session
# opened before the first query is still there at the end, and the log shows
# no crash restart.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $B = 8192;

# The damage, one index each: a name, whether the index is then unreadable
# (every access raises XX002), what the error or the verifier says, and a sub
# that damages the index file.
my @cases;

my $node = omen_node('corruption', extension => 1,
	conf => ['shared_buffers = 256MB', 'autovacuum = off']);
is($node->safe_psql('postgres', 'SHOW data_checksums'),
	'off', 'no checksums: the damage reaches the index code');
$node->safe_psql(
	'postgres', q{
CREATE TABLE src AS
	SELECT i AS id, ARRAY(SELECT sin(i * 7 + j) FROM generate_series(1, 16) j)::vector(16) AS v
	FROM generate_series(1, 6000) i;
});

# ---- the page format (src/page.h), read with unpack ----

sub read_block
{
	my ($file, $blk) = @_;
	open my $fh, '<:raw', $file or die "open $file: $!";
	sysseek($fh, $blk * $B, 0) or die;
	sysread($fh, my $page, $B) == $B or die "short read of block $blk";
	close $fh;
	return $page;
}

sub overwrite
{
	my ($file, $offset, $bytes) = @_;
	open my $fh, '+<:raw', $file or die "open $file: $!";
	sysseek($fh, $offset, 0) or die;
	syswrite($fh, $bytes) == length($bytes) or die "short write";
	close $fh;
}

sub nblocks { return (-s $_[0]) / $B; }

# (kind, segno) of a page from its special space
sub page_kind
{
	my ($page) = @_;
	my $special = unpack('v', substr($page, 16, 2));
	my (undef, $segno, $kind) = unpack('V V v', substr($page, $special, 10));
	return ($kind, $segno, $special);
}

# line pointer off: (byte offset of the pointer, item offset, flags, length)
sub line_pointer
{
	my ($page, $off) = @_;
	my $at = 24 + 4 * ($off - 1);
	my $w = unpack('V', substr($page, $at, 4));
	return ($at, $w & 0x7fff, ($w >> 15) & 3, $w >> 17);
}

sub max_offset { return (unpack('v', substr($_[0], 12, 2)) - 24) / 4; }

# items of a tuple type (1 search row on data pages, 3 vector chunk on
# vector pages), in file order: [block, offset, byte offset of the item in
# the file, segno]
sub tuples
{
	my ($file, $type) = @_;
	my @found;
	for my $blk (1 .. nblocks($file) - 1)
	{
		my $page = read_block($file, $blk);
		my ($kind, $segno) = page_kind($page);
		next unless $kind == ($type == 1 ? 3 : 4);
		for my $off (1 .. max_offset($page))
		{
			my (undef, $item, $flags) = line_pointer($page, $off);
			next unless $flags == 1 && ord(substr($page, $item, 1)) == $type;
			push @found, [ $blk, $off, $blk * $B + $item, $segno ];
		}
	}
	return @found;
}

sub pack_tid { my ($blk, $off) = @_; return pack('v v v', $blk >> 16, $blk & 0xffff, $off); }

# A link (src/README): the row's block shifted left by the bits of the most
# rows a data page holds, its offset in those bits.  These indexes' level-0
# rows (m = 4, 16 dimensions of 8 bits) take 80 + 16 + 4 * 8 bytes, and a
# line pointer more on the page.
my $link_bits = length(sprintf('%b', int(8152 / (128 + 4))));
sub pack_link { my ($blk, $off) = @_; return pack('V', $blk << $link_bits | $off); }

# ---- the damage ----

push @cases, [
	'metapage magic', 1, qr/metapage is damaged/,
	sub { overwrite($_[0], 24, "\0\0\0\0"); }
];
# a code width that the element kind cannot have (halves for vector)
push @cases, [
	'metapage code width', 1, qr/has a damaged metapage: codes of 16 bits/,
	sub { overwrite($_[0], 24 + 32, pack('v', 16)); }
];
push @cases, [
	'directory page kind', 1, qr/damaged segment directory at block/,
	sub {
		my ($file) = @_;
		my $dir = unpack('V', substr(read_block($file, 0), 24 + 28, 4));
		my (undef, undef, $special) = page_kind(read_block($file, $dir));
		overwrite($file, $dir * $B + $special + 8, pack('v', 3));
	}
];
push @cases, [
	'directory chain cycle', 1, qr/damaged segment directory chain at block/,
	sub {
		my ($file) = @_;
		my $dir = unpack('V', substr(read_block($file, 0), 24 + 28, 4));
		my (undef, undef, $special) = page_kind(read_block($file, $dir));
		overwrite($file, $dir * $B + $special, pack('V', $dir));
	}
];
push @cases, [
	'search row length', 0, qr/item lies outside the tuple space/,
	sub {
		my ($file) = @_;
		my ($e) = tuples($file, 1);
		my ($at, $item, $flags, $len) = line_pointer(read_block($file, $e->[0]), $e->[1]);
		overwrite($file, $e->[0] * $B + $at,
			pack('V', $item | ($flags << 15) | (($len + 8) << 17)));
	}
];
push @cases, [
	'search row level', 0,
	qr/search row \(\d+,\d+\) has length \d+, not one of a row at its level/,
	sub {
		my ($file) = @_;
		my ($e) = tuples($file, 1);
		overwrite($file, $e->[2] + 1, chr(200));
	}
];
push @cases, [
	'line pointer off the page', 0, qr/item lies outside the tuple space/,
	sub {
		my ($file) = @_;
		my (undef, $e) = tuples($file, 1);
		my ($at, undef, $flags, $len) = line_pointer(read_block($file, $e->[0]), $e->[1]);
		overwrite($file, $e->[0] * $B + $at,
			pack('V', ($B - 8) | ($flags << 15) | ($len << 17)));
	}
];
push @cases, [
	'link into another segment', 0,
	qr/links to \(\d+,\d+\), not a node of segment(?s:.*)vector at \(\d+,\d+\) is missing|vector at \(\d+,\d+\) is missing(?s:.*)links to \(\d+,\d+\), not a node of segment/,
	sub {
		my ($file) = @_;
		my @el = tuples($file, 1);
		my @vec = tuples($file, 3);
		my ($other) = grep { $_->[3] != $el[10][3] } @el;
		die "one segment only" unless defined $other;
		# first level-0 slot of a search row: after 80 bytes of header and
		# 16 of code (16 dimensions, 8 bits each)
		overwrite($file, $el[10][2] + 96, pack_link($other->[0], $other->[1]));
		# a search row's vector, taken from another segment
		my ($far) = grep { $_->[3] != $el[0][3] } @vec;
		overwrite($file, $el[0][2] + 64, pack_tid($far->[0], $far->[1]));
	}
];
# the largest block a link holds, past the index's end, and the largest
# offset, past the rows of the page
my $far_blk = (1 << (32 - $link_bits)) - 1;
my $far_off = (1 << $link_bits) - 1;
push @cases, [
	'links out of range', 0,
	qr/links to \($far_blk,1\), not a node of segment(?s:.*)links to \(\d+,$far_off\), not a node of segment/,
	sub {
		my ($file) = @_;
		my ($e) = tuples($file, 1);
		overwrite($file, $e->[2] + 96, pack_link($far_blk, 1));
		overwrite($file, $e->[2] + 100, pack_link($e->[0], $far_off));
	}
];
push @cases, [
	'row tightness', 0, qr/its code claims its vector nearer than it is \(tightness 65535, at most \d+\)/,
	sub {
		my ($file) = @_;
		my @el = tuples($file, 1);
		# tight, 2 bytes after the heap TIDs and the vector's TID
		overwrite($file, $el[5][2] + 70, pack('v', 0xFFFF));
	}
];
push @cases, [
	'vector chunk length', 0, qr/is not a vector chunk(?s:.*)is missing or incomplete/,
	sub {
		my ($file) = @_;
		my ($v) = tuples($file, 3);
		# nfloats, after the type and a byte of padding
		overwrite($file, $v->[2] + 2, pack('v', 15));
	}
];
push @cases, [
	'data page kind', 0, qr/block \d+ is not a data or vector page/,
	sub {
		my ($file) = @_;
		my ($e) = tuples($file, 1);
		my (undef, undef, $special) = page_kind(read_block($file, $e->[0]));
		overwrite($file, $e->[0] * $B + $special + 8, pack('v', 7));
	}
];

# (first, last) block of the last segment of the directory, the one
# inserts go to: from the last descriptor (segno, first_blk, last_blk, ...)
# of the directory's first page
sub insert_segment
{
	my ($file) = @_;
	my $dir = unpack('V', substr(read_block($file, 0), 24 + 28, 4));
	my $page = read_block($file, $dir);
	my (undef, $item) = line_pointer($page, max_offset($page));
	my (undef, $first, $last) = unpack('V V V', substr($page, $item, 12));
	return ($first, $last);
}

# The cases below damage a segment's page chain; inserts append pages to it,
# the walk of a query without distances follows it, and VACUUM follows it
# when it retires the segment.  They must stop with XX002 instead of walking
# forever or writing into a page of another kind.
push @cases, [
	'segment chain cycle', 0, qr/block \d+ is already part of this chain/,
	sub {
		my ($file) = @_;
		my ($first, $last) = insert_segment($file);
		my (undef, undef, $special) = page_kind(read_block($file, $last));
		overwrite($file, $last * $B + $special, pack('V', $first));
	},
	[qw(insert walk vacuum)]
];
push @cases, [
	'directory page in a segment chain', 0, qr/block \d+ is not a data or vector page/,
	sub {
		my ($file) = @_;
		my (undef, $last) = insert_segment($file);
		my $dir = unpack('V', substr(read_block($file, 0), 24 + 28, 4));
		my (undef, undef, $special) = page_kind(read_block($file, $last));
		overwrite($file, $last * $B + $special, pack('V', $dir));
	},
	[qw(insert vacuum)]
];

# one table and index per case, in segments (small maintenance_work_mem)
my %file;
for my $i (0 .. $#cases)
{
	$node->safe_psql(
		'postgres', qq{
CREATE TABLE t$i AS SELECT * FROM src;
SET maintenance_work_mem = '1MB';
CREATE INDEX i$i ON t$i USING omenhnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16);
});
	verify_clean($node, "i$i",
		"index for \"$cases[$i][0]\" is sound before the damage");
	$file{$i} = $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('i$i')");
}
# A sparsevec index keeps each vector's non-zero count in its first word:
# one too many (the chunks no longer add up) and one past any vector's
# length.  The vectors take 1 to 9 chunks (up to 7,999 non-zeros).
$node->safe_psql(
	'postgres', q{
CREATE TABLE sv AS SELECT i AS id,
	('{' || (SELECT string_agg(k * 7 + i % 7 || ':' || sin(i + k), ',')
		FROM generate_series(1, CASE WHEN i % 50 = 0 THEN 7999 ELSE 1 + i % 9 END) k)
	|| '}/100000')::sparsevec AS v
	FROM generate_series(1, 600) i;
CREATE INDEX sv_idx ON sv USING omenhnsw (v sparsevec_l2_ops) WITH (m = 4, ef_construction = 16);
});
verify_clean($node, 'sv_idx', 'the sparsevec index is sound before the damage');
my $sv_file = $node->data_dir . '/'
  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('sv_idx')");

$node->stop;
$cases[$_][3]->($file{$_}) for 0 .. $#cases;
# a chunk past offset 1 of its page is a vector's first (src/README)
my ($c1, $c2) = (grep { $_->[1] > 1 } tuples($sv_file, 3))[ 3, 10 ];
my $nnz = unpack('V', substr(read_block($sv_file, $c1->[0]),
		$c1->[2] - $c1->[0] * $B + 12, 4));
overwrite($sv_file, $c1->[2] + 12, pack('V', $nnz + 1));
overwrite($sv_file, $c2->[2] + 12, pack('V', 0xFFFFFFF0));
my $log_offset = -s $node->logfile;
$node->start;

# an index of another format version: a clear error, with a hint to REINDEX
$node->safe_psql('postgres', q{
CREATE TABLE old AS SELECT * FROM src LIMIT 100;
CREATE INDEX old_idx ON old USING omenhnsw (v vector_l2_ops);
});
my $old_file = $node->data_dir . '/'
  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('old_idx')");
$node->stop;
overwrite($old_file, 28, pack('V', 2));
$node->start;
my ($old_rc, $old_out, $old_err) = $node->psql('postgres',
	"\\set VERBOSITY verbose\nSET enable_seqscan = off;\nSELECT id FROM old ORDER BY v <-> (SELECT v FROM old LIMIT 1) LIMIT 1;");
like($old_err, qr/ERROR:\s+0A000: index "old_idx" has format version 2, expected 3/,
	'an index of format version 2 raises 0A000');
like($old_err, qr/HINT:\s+REINDEX the index/, 'with a hint to REINDEX');
$node->safe_psql('postgres', 'REINDEX INDEX old_idx');
is($node->safe_psql('postgres', "SELECT count(*) FROM omenhnsw_verify('old_idx')"),
	'0', 'REINDEX makes it readable');

my $bg = $node->background_psql('postgres');
my $bg_pid = $bg->query_safe('SELECT pg_backend_pid()');

# Runs sql; returns 'ok' or the SQLSTATE of its error.
sub outcome
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		'postgres',
		"\\set VERBOSITY verbose\nSET enable_seqscan = off;\nSET statement_timeout = '120s';\n$sql",
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1);
	return ('ok', $out) if $rc == 0;
	return ($1, $err) if $err =~ /ERROR:\s+([0-9A-Z]{5}):/;
	return ("psql exit $rc", $err);
}

# Runs a damaged index's statements (%$sql: scan, insert, verify, walk,
# vacuum) and checks their outcomes as the top of the file says.
sub check_damage
{
	my ($name, $unreadable, $report, $must_fail, $sql) = @_;
	my %fails = map { $_ => 1 } @{ $must_fail // [] };
	# the walk and VACUUM go last: VACUUM retires the emptied segments
	for my $what (qw(scan insert verify walk vacuum))
	{
		my ($got, $text) = outcome($sql->{$what});
		note "$name, $what: $got\n$text";
		if ($unreadable || $fails{$what})
		{
			is($got, 'XX002', "$name: $what raises XX002");
		}
		else
		{
			like($got, qr/^(ok|XX002)$/, "$name: $what succeeds or raises XX002");
		}
		like($text, $report, "$name: verify reports the damage")
		  if $what eq 'verify';
	}
	return;
}

my $q = '[' . join(',', map { sin($_) } 1 .. 16) . ']';
for my $i (0 .. $#cases)
{
	my ($name, $unreadable, $report, undef, $must_fail) = @{ $cases[$i] };
	my %sql = (
		scan => "SELECT id FROM t$i ORDER BY v <-> '$q' LIMIT 10",
		# new vectors, enough to fill the pages new rows and vectors go to
		insert => "INSERT INTO t$i SELECT 0, ARRAY(SELECT cos(i * 3 + j) FROM generate_series(1, 16) j)::vector(16) FROM generate_series(1, 200) i",
		verify => "SELECT * FROM omenhnsw_verify('i$i')",
		walk => "SELECT count(*) FROM (SELECT id FROM t$i ORDER BY v <-> (SELECT NULL::vector)) s",
		vacuum => "DELETE FROM t$i;\nVACUUM t$i");
	check_damage($name, $unreadable, $report, $must_fail, \%sql);
}

my $svq = '{1:1,8:0.5,15:-1}/100000';
check_damage(
	'sparsevec count', 0,
	qr/its vector at \(\d+,\d+\) is missing or incomplete(?s:.*)its vector at \(\d+,\d+\) is missing or incomplete/,
	undef,
	{
		# every node is re-ranked, the damaged ones too
		scan => "SET omenhnsw.ef_search = 1000;\nSELECT id FROM sv ORDER BY v <-> '$svq' LIMIT 10",
		insert => "INSERT INTO sv SELECT 0, ('{' || i || ':1}/100000')::sparsevec FROM generate_series(1, 200) i",
		verify => "SELECT * FROM omenhnsw_verify('sv_idx')",
		walk => "SELECT count(*) FROM (SELECT id FROM sv ORDER BY v <-> NULL) s",
		vacuum => "DELETE FROM sv;\nVACUUM sv"
	});

is($bg->query_safe('SELECT pg_backend_pid()'),
	$bg_pid, 'the session opened before the damage is still there');
$bg->quit;
my $log = slurp_file($node->logfile, $log_offset);
unlike($log, qr/terminated by signal|server process .* exited with exit code/,
	'no backend crashed');

$node->stop;
done_testing();
