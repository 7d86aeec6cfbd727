# A graph grown by single-row inserts answers as well as a bulk build:
# Fashion-MNIST (784-d, L2), 20,000 rows built in bulk, the next 10,000
# inserted one by one; recall@10 at ef_search 10 is within 0.01 of a bulk
# build over the same 30,000 rows.  Ground truth is exact.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib $FindBin::RealBin;
use OmenTest;
use PostgreSQL::Test::Utils;
use Test::More;

fashion_required();

my $nbuilt = 20000;
my $ninserted = 10000;
my $nq = 300;
my $k = 10;

my $node = omen_node('insert_recall', extension => 1, conf => 'shared_buffers = 256MB');
load_fashion($node, 'src', 'train', $nbuilt + $ninserted);
load_fashion($node, 'fq', 't10k', $nq);
run_sql(
	$node, qq{
CREATE TABLE fashion (id int, v vector(784));
ALTER TABLE fashion ALTER COLUMN v SET STORAGE PLAIN;
INSERT INTO fashion SELECT * FROM src WHERE id <= $nbuilt;
VACUUM ANALYZE src, fq, fashion;
});

my $serial = "SET max_parallel_maintenance_workers = 0;
SET maintenance_work_mem = '512MB';";
build_index($node, $serial,
	'CREATE INDEX fashion_idx ON fashion USING omenhnsw (v vector_l2_ops)');
# one row at a time through the index's insert path
run_sql($node, "INSERT INTO fashion SELECT * FROM src WHERE id > $nbuilt");
is($node->safe_psql('postgres', 'SELECT count(*) FROM fashion'),
	$nbuilt + $ninserted, 'rows inserted');
verify_clean($node, 'fashion_idx',
	'after the inserts: omenhnsw_verify finds no problem');

my %gt = (op => '<->', k => $k, queries => 'fq', table => 'fashion',
	gt => 'gt', index => 'fashion_idx');
ground_truth($node, %gt);
my ($inserted) =
  recall_at($node, %gt, settings => 'SET omenhnsw.ef_search = 10;');

build_index($node, $serial, 'REINDEX INDEX fashion_idx');
my ($bulk) = recall_at($node, %gt, settings => 'SET omenhnsw.ef_search = 10;');
note "recall\@$k at ef_search 10: $inserted after inserts, $bulk after REINDEX";
cmp_ok($inserted, '>=', $bulk - 0.01,
	"recall\@$k at ef_search 10 after $ninserted inserts ($inserted) is within 0.01 of a bulk build ($bulk)"
);

$node->stop;
done_testing();
