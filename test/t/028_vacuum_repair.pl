# VACUUM repairs the graph around the nodes it deletes: the live
# neighbours of a deleted node get new lists, chosen as an insert chooses
# them, and a deleted entry point is replaced.  After 40% of a clustered
# table is deleted and vacuumed, searches at a small ef_search on a sparse
# graph (m 4) must find the remaining rows about as well as a fresh build
# of the same rows (REINDEX) does.  Without the repair, deleted nodes crowd
# the searches: recall@10 was 0.63 against 0.71, and self-reach 77% against
# 84%.
# Then the upper levels: the rows of the entry point and of half of the
# nodes above level 0 go, with a third of the others.  Read from the index file,
# the graph must then have a live entry point of the highest live level and
# no live node linking to a deleted one above level 0, and searches must
# again do about as well as a fresh build.  With deleted nodes left to
# route on the upper levels, recall@10 was 0.74 against 0.81 and self-reach
# 81% against 90%; with the repair, 0.84 and 89%.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $ef = 10;
my $node = omen_node('repair', conf => 'autovacuum = off');
omen_setup($node, dim => 48, noise => 1.6);
omen_load($node, 8000, 0.31);
$node->safe_psql('postgres',
	'CREATE INDEX t_v_idx ON t USING omenhnsw (v vector_l2_ops) WITH (m = 4, ef_construction = 16)'
);
knn_uses_index($node, 't_v_idx');
my $log_offset = -s $node->logfile;

$node->safe_psql('postgres',
	'DELETE FROM t WHERE abs(hashint8(id)) % 5 < 2; VACUUM t');
verify_clean($node, 't_v_idx', 'verifier is clean after deleting 40%');
my $recall = t_recall($node, $ef, 10);
my ($found, $checked) = self_reach($node, 'true', $ef, 1);

# the same rows in a fresh build
$node->safe_psql('postgres', 'REINDEX INDEX t_v_idx');
my $recall_fresh = t_recall($node, $ef, 10);
my ($found_fresh) = self_reach($node, 'true', $ef, 1);
note("ef_search $ef, after VACUUM / after REINDEX: recall\@10 $recall / "
	  . "$recall_fresh, self-reach $found / $found_fresh of $checked");

cmp_ok($recall, '>=', $recall_fresh - 0.02,
	'recall@10 after VACUUM is within 0.02 of a fresh build');
cmp_ok($found, '>=', $found_fresh - int($checked / 50),
	'self-reach after VACUUM is within 2% of a fresh build');

# The search rows of index $idx (m $m), read from its file after a
# checkpoint as src/README describes format 2: "blk/off" => { level,
# deleted, heap => [ctids], links => [per slot "blk/off" or undef] }; and
# the segments' entry points as [ "blk/off", level ].
sub read_graph
{
	my ($idx, $m) = @_;
	$node->safe_psql('postgres', 'CHECKPOINT');
	my $file = $node->data_dir . '/'
	  . $node->safe_psql('postgres', "SELECT pg_relation_filepath('$idx')");
	my $data = slurp_file($file);
	my $tid = sub {
		my ($hi, $lo, $off) = unpack('v v v', $_[0]);
		return $off ? (($hi << 16) | $lo) . "/$off" : undef;
	};
	my (%nodes, @entries);
	for my $blk (1 .. length($data) / 8192 - 1)
	{
		my $page = substr($data, $blk * 8192, 8192);
		my ($lower, $special) = unpack('v x2 v', substr($page, 12, 6));
		next if $special == 0;
		my $kind = unpack('v', substr($page, $special + 8, 2));
		for my $i (0 .. ($lower - 24) / 4 - 1)
		{
			my $lp = unpack('V', substr($page, 24 + 4 * $i, 4));
			my ($off, $len) = ($lp & 0x7fff, $lp >> 17);
			next if $len == 0;
			my $t = substr($page, $off, $len);
			if ($kind == 2)
			{
				push @entries,
				  [ $tid->(substr($t, 24, 6)), unpack('v', substr($t, 30, 2)) ];
				next;
			}
			next unless $kind == 3 && unpack('C', $t) == 1;
			my ($level, $deleted) = unpack('x C C', $t);
			my $slots = 2 * $m + $level * $m;
			my $links = $len - 6 * $slots;    # the links end the row
			$nodes{ "$blk/" . ($i + 1) } = {
				level => $level,
				deleted => $deleted,
				heap => [
					map {
						my $h = $tid->(substr($t, 4 + 6 * $_, 6));
						defined $h ? '(' . ($h =~ s{/}{,}r) . ')' : ()
					} 0 .. 9
				],
				links =>
				  [ map { $tid->(substr($t, $links + 6 * $_, 6)) } 0 .. $slots - 1 ],
			};
		}
	}
	return (\%nodes, \@entries);
}

my ($nodes, $entries) = read_graph('t_v_idx', 4);
is(scalar(@$entries), 1, 'the rebuilt index has one segment');
my @gone = map { @{ $nodes->{$_}{heap} } }
  grep { $nodes->{$_}{level} >= 1 && unpack('%32C*', $_) % 2 } keys %$nodes;
push @gone, @{ $nodes->{ $entries->[0][0] }{heap} };
$node->safe_psql('postgres',
	"DELETE FROM t WHERE ctid = ANY ('{" . join(',', map { "\"$_\"" } @gone) . "}'::tid[]);"
	  . 'DELETE FROM t WHERE abs(hashint8(id)) % 3 = 0; VACUUM t');
verify_clean($node, 't_v_idx', 'verifier is clean after deleting the upper levels');

($nodes, $entries) = read_graph('t_v_idx', 4);
my ($entry, $entry_level) = @{ $entries->[0] };
my $top = 0;
my $stale = 0;
for my $nd (grep { !$_->{deleted} } values %$nodes)
{
	$top = $nd->{level} if $nd->{level} > $top;
	$stale++
	  if grep { defined $_ && (!$nodes->{$_} || $nodes->{$_}{deleted}) }
	  @{ $nd->{links} }[ 2 * 4 .. $#{ $nd->{links} } ];    # above level 0
}
ok($nodes->{$entry} && !$nodes->{$entry}{deleted}, 'the entry point is live');
is($entry_level, $top, 'the entry point has the highest live level');
is($stale, 0, 'no live node links to a deleted one above level 0');

$recall = t_recall($node, $ef, 10);
($found, $checked) = self_reach($node, 'true', $ef, 1);
$node->safe_psql('postgres', 'REINDEX INDEX t_v_idx');
$recall_fresh = t_recall($node, $ef, 10);
($found_fresh) = self_reach($node, 'true', $ef, 1);
note("upper levels deleted, ef_search $ef, after VACUUM / after REINDEX: "
	  . "recall\@10 $recall / $recall_fresh, self-reach $found / $found_fresh of $checked");
cmp_ok($recall, '>=', $recall_fresh - 0.02,
	'upper levels deleted: recall@10 after VACUUM is within 0.02 of a fresh build');
cmp_ok($found, '>=', $found_fresh - int($checked / 50),
	'upper levels deleted: self-reach after VACUUM is within 2% of a fresh build');

log_clean_ok($node, $log_offset, 'server log has no errors or crashes');
$node->stop;
done_testing();
