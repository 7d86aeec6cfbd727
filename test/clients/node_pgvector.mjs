// pgvector's Node.js client (npm pgvector + pg), used unchanged against omendb:
// vectors go in through pgvector's toSql, come back through its fromSql type
// parser, and <-> ordering, the other distance operators and the text form match.
// Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; extension from OMEN_EXTENSION.
import assert from 'node:assert/strict';
import pg from 'pg';
import pgvector from 'pgvector';
import { registerTypes } from 'pgvector/pg';

const extension = process.env.OMEN_EXTENSION || 'omendb';
const client = new pg.Client();

const rows = [
  [1, [1, 1, 1]],
  [2, [2, 2, 2]],
  [3, [1, 1, 2]],
  [4, [0.5, -1.25, 1e-3]],
  [5, [0.1, 1e6, -3.5e-7]],
];

async function main() {
  await client.connect();
  await client.query(`CREATE EXTENSION IF NOT EXISTS ${extension}`);
  await registerTypes(client);
  await client.query('CREATE TEMP TABLE items (id int PRIMARY KEY, embedding vector(3))');

  for (const [id, v] of rows) {
    await client.query('INSERT INTO items VALUES ($1, $2)', [id, pgvector.toSql(v)]);
  }
  await client.query('INSERT INTO items VALUES (6, $1)', [pgvector.toSql(null)]);

  // fromSql, through the registered type parser: every value round-trips
  const all = await client.query('SELECT id, embedding FROM items ORDER BY id');
  assert.deepEqual(all.rows.map((r) => [r.id, r.embedding]), [...rows, [6, null]]);

  // ordering by L2 distance to a parameter sent with toSql
  const near = await client.query(
    'SELECT id, embedding <-> $1 AS d FROM items WHERE embedding IS NOT NULL ORDER BY embedding <-> $1 LIMIT 3',
    [pgvector.toSql([1, 1, 1])]);
  assert.deepEqual(near.rows.map((r) => r.id), [1, 3, 2]);
  assert.deepEqual(near.rows.map((r) => r.d), [0, 1, Math.sqrt(3)]);

  // the text form is pgvector's, and fromSql parses it
  const text = await client.query("SELECT embedding::text AS t FROM items WHERE id IN (1, 4) ORDER BY id");
  assert.deepEqual(text.rows.map((r) => r.t), ['[1,1,1]', '[0.5,-1.25,0.001]']);
  assert.deepEqual(pgvector.fromSql(text.rows[1].t), [0.5, -1.25, 0.001]);

  const ops = await client.query(
    `SELECT $1::vector <-> $2::vector AS l2, $1::vector <#> $2::vector AS neg_ip,
            $3::vector <=> $4::vector AS cosine`,
    [pgvector.toSql([1, 2]), pgvector.toSql([4, 6]), pgvector.toSql([1, 0]), pgvector.toSql([0, 1])]);
  assert.deepEqual(ops.rows[0], { l2: 5, neg_ip: -16, cosine: 1 });

  // a vector of the wrong dimension is refused with a data exception
  await assert.rejects(client.query('INSERT INTO items VALUES (7, $1)', [pgvector.toSql([1, 2])]),
    (err) => err.code.startsWith('22'));
}

try {
  await main();
  console.log(`node pgvector client (extension ${extension}): PASS`);
} catch (err) {
  console.error(err);
  console.log(`node pgvector client (extension ${extension}): FAIL`);
  process.exitCode = 1;
} finally {
  await client.end();
}
