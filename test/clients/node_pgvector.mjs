// pgvector's Node.js client (npm pgvector + pg, and its Knex.js helpers), used unchanged against
// omendb, for each of pgvector's types: vector, halfvec and sparsevec go in through pgvector's
// toSql (SparseVector for sparsevec) and come back through the type parsers registerTypes
// installs; bit goes as the strings pg uses.  Every distance operator, computed by the server,
// matches the same distance computed here; ordering by it returns the rows nearest in those
// distances; NULLs go in and come out, and sort last.
// Connection from PGHOST/PGPORT/PGUSER/PGDATABASE; extension from OMEN_EXTENSION.
import assert from 'node:assert/strict';
import knexFactory from 'knex';
import pg from 'pg';
import pgvector, { SparseVector } from 'pgvector';
import { registerTypes } from 'pgvector/pg';
import pgvectorKnex from 'pgvector/knex';

const extension = process.env.OMEN_EXTENSION || 'omendb';
const client = new pg.Client();

// a 31-bit linear congruential generator: the same data on every platform
let state = 20261206;
function rnd() {
  state = (state * 1103515245 + 12345) % 2147483648;
  return state / 2147483648;
}

// x rounded to the nearest IEEE half, ties to even (x well within the half range)
function toHalf(x) {
  if (x === 0) return x;
  const ulp = 2 ** (Math.max(Math.floor(Math.log2(Math.abs(x))), -14) - 10);
  const r = x / ulp;
  return (Math.abs(r % 1) === 0.5 ? 2 * Math.round(r / 2) : Math.round(r)) * ulp;
}

const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
const dense = {
  '<->': (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0)),
  '<#>': (a, b) => -dot(a, b),
  '<=>': (a, b) => 1 - Math.min(1, Math.max(-1, dot(a, b) / Math.sqrt(dot(a, a) * dot(b, b)))),
  '<+>': (a, b) => a.reduce((s, x, i) => s + Math.abs(x - b[i]), 0),
};
const ones = (bits) => [...bits].filter((c) => c === '1').length;
const and = (a, b) => [...a].map((c, i) => (c === '1' && b[i] === '1' ? '1' : '0')).join('');
const bitDistances = {
  '<~>': (a, b) => [...a].filter((c, i) => c !== b[i]).length,
  '<%>': (a, b) => {
    const ab = ones(and(a, b));
    return ab === 0 ? 1 : 1 - ab / (ones(a) + ones(b) - ab);
  },
};

// Distances are float4 sums on the server, added in another order than here.
function close(got, want, what) {
  assert.ok(Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)), `${what}: ${got}, expected ${want}`);
}

const dim = 8;
const nrows = 40;
const denseRows = Array.from({ length: nrows }, () =>
  Array.from({ length: dim }, () => Math.fround(rnd() * 4 - 2)));
const halfRows = denseRows.map((v) => v.map(toHalf));
// about a third of the elements non-zero
const sparseRows = denseRows.map((v) => new SparseVector(v.map((x) => (Math.abs(x) < 0.7 ? x : 0))));
const bitRows = Array.from({ length: nrows }, () =>
  Array.from({ length: 24 }, () => (rnd() < 0.4 ? '1' : '0')).join(''));

// The types: column type, values as stored (in JS), what goes to the server, how to read a
// result back into a plain array or string, the distances.
const types = [
  { name: 'vector', column: `vector(${dim})`, stored: denseRows, param: pgvector.toSql,
    plain: (v) => v.map(Math.fround), distances: dense },
  { name: 'halfvec', column: `halfvec(${dim})`, stored: halfRows, param: pgvector.toSql,
    plain: (v) => v.map(Math.fround), distances: dense },
  { name: 'sparsevec', column: `sparsevec(${dim})`, stored: sparseRows, param: pgvector.toSql,
    plain: (v) => v.toArray().map(Math.fround), distances: dense },
  { name: 'bit', column: 'bit(24)', stored: bitRows, param: (v) => v, plain: (v) => v,
    distances: bitDistances },
];

async function checkType(t) {
  const table = `t_${t.name}`;
  await client.query(`CREATE TEMP TABLE ${table} (id int PRIMARY KEY, v ${t.column})`);
  for (const [i, v] of t.stored.entries()) {
    await client.query(`INSERT INTO ${table} VALUES ($1, $2)`, [i, t.param(v)]);
  }
  await client.query(`INSERT INTO ${table} VALUES ($1, $2)`, [nrows, pgvector.toSql(null)]);

  // round trip through the registered type parser (or pg's text for bit)
  const all = await client.query(`SELECT id, v FROM ${table} ORDER BY id`);
  assert.equal(all.rows.length, nrows + 1);
  for (const [i, v] of t.stored.entries()) {
    assert.deepEqual(t.plain(all.rows[i].v), t.plain(v), `${t.name} row ${i} round trip`);
  }
  assert.equal(all.rows[nrows].v, null, `${t.name} NULL round trip`);

  const q = t.stored[7];
  const rows = t.stored.map((v, id) => ({ id, v: t.plain(v) }));
  for (const [op, fn] of Object.entries(t.distances)) {
    // each row's distance to q, computed by the server and here
    const res = await client.query(`SELECT id, v ${op} $1 AS d FROM ${table} ORDER BY id`, [t.param(q)]);
    for (const r of res.rows.slice(0, nrows)) {
      close(r.d, fn(rows[r.id].v, t.plain(q)), `${t.name} ${op} row ${r.id}`);
    }
    assert.equal(res.rows[nrows].d, null, `${t.name} ${op} of NULL`);

    // k-NN: the 5 rows with the least distances here, in order (ties in any order), NULL last
    const want = rows.map((r) => fn(r.v, t.plain(q))).sort((a, b) => a - b);
    const knn = await client.query(`SELECT id, v ${op} $1 AS d FROM ${table} ORDER BY v ${op} $1 LIMIT 5`,
      [t.param(q)]);
    knn.rows.forEach((r, i) => close(r.d, want[i], `${t.name} ORDER BY ${op}: distance ${i}`));
    const last = await client.query(`SELECT id FROM ${table} ORDER BY v ${op} $1 OFFSET ${nrows}`, [t.param(q)]);
    assert.equal(last.rows[0].id, nrows, `${t.name} ORDER BY ${op}: NULL sorts last`);
  }
}

async function checkTextForms() {
  // the text forms are pgvector's, and pgvector's parsers read them
  const text = await client.query(`SELECT '[0.5,-1.25,0.001]'::vector::text AS v, '[0.1,65504,-0]'::halfvec::text AS h,
    $1::sparsevec::text AS s, $2::sparsevec::text AS m`,
  [pgvector.toSql(new SparseVector([0, 1.5, 0, -2])), pgvector.toSql(new SparseVector(new Map([[9, 0.25], [2, 3]]), 10))]);
  assert.deepEqual(text.rows[0], { v: '[0.5,-1.25,0.001]', h: '[0.099975586,65504,-0]', s: '{2:1.5,4:-2}/4', m: '{3:3,10:0.25}/10' });
  assert.deepEqual(pgvector.fromSql(text.rows[0].h), [0.099975586, 65504, -0]);
  const s = pgvector.fromSql(text.rows[0].m);
  assert.ok(s instanceof SparseVector);
  assert.deepEqual([s.dimensions, s.indices, s.values], [10, [2, 9], [3, 0.25]]);
  const obj = new SparseVector({ 0: 1, 4: -0.5 }, 5);
  const back = await client.query('SELECT $1::sparsevec AS s', [pgvector.toSql(obj)]);
  assert.deepEqual(back.rows[0].s.toArray(), [1, 0, 0, 0, -0.5]);

  // values of the wrong dimension are refused with a data exception
  await client.query('CREATE TEMP TABLE dims (vector vector(3), halfvec halfvec(3), sparsevec sparsevec(3), bit bit(3))');
  for (const [column, value] of [['vector', pgvector.toSql([1, 2])], ['halfvec', pgvector.toSql([1, 2])],
    ['sparsevec', pgvector.toSql(new SparseVector([1, 2]))], ['bit', '10']]) {
    await assert.rejects(client.query(`INSERT INTO dims (${column}) VALUES ($1)`, [value]),
      (err) => err.code.startsWith('22'), `${column}(3) takes ${value}`);
  }
  // an out-of-range half is refused
  await assert.rejects(client.query('SELECT $1::halfvec', [pgvector.toSql([1e5])]), (err) => err.code.startsWith('22'));
}

// pgvector's Knex.js helpers: column types, the index as its README makes it (with USING
// omenhnsw), and ordering by each distance helper.
async function checkKnex() {
  const knex = knexFactory({ client: 'pg', connection: {}, pool: { min: 1, max: 1 } });
  try {
    await knex.schema.dropTableIfExists('knex_items');
    await knex.schema.createTable('knex_items', (table) => {
      table.increments('id');
      table.vector('embedding', 3);
      table.halfvec('half', 3);
      table.sparsevec('sparse', 3);
      table.specificType('bits', 'bit(3)');
    });
    await knex.schema.alterTable('knex_items', (table) => {
      table.index([knex.raw('embedding vector_l2_ops')], 'knex_items_embedding_idx', 'omenhnsw');
    });
    const values = [[1, 1, 1], [2, 2, 2], [1, 1, 2]];
    await knex('knex_items').insert(values.map((v) => ({
      embedding: pgvectorKnex.toSql(v), half: pgvectorKnex.toSql(v),
      sparse: pgvectorKnex.toSql(new SparseVector(v)), bits: v.map((x) => (x > 1 ? '1' : '0')).join(''),
    })));
    const ids = async (order) => (await knex('knex_items').orderBy(order).limit(5)).map((r) => r.id);
    assert.deepEqual(await ids(knex.l2Distance('embedding', [1, 1, 1])), [1, 3, 2]);
    assert.deepEqual(await ids(knex.maxInnerProduct('half', [1, 1, 1])), [2, 3, 1]);
    assert.equal((await ids(knex.cosineDistance('embedding', [1, 1, 1])))[2], 3);
    assert.deepEqual(await ids(knex.l1Distance('sparse', new SparseVector([1, 1, 1]))), [1, 3, 2]);
    assert.deepEqual(await ids(knex.hammingDistance('bits', '001')), [3, 1, 2]);
    assert.deepEqual(await ids(knex.jaccardDistance('bits', '111')), [2, 3, 1]);
    const row = await knex('knex_items').where('id', 3).first();
    assert.deepEqual(pgvectorKnex.fromSql(row.embedding), [1, 1, 2]);
    assert.deepEqual(pgvectorKnex.fromSql(row.half), [1, 1, 2]);
    assert.deepEqual(pgvectorKnex.fromSql(row.sparse).toArray(), [1, 1, 2]);
    const idx = await knex.raw("SELECT amname FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE relname = 'knex_items_embedding_idx'");
    assert.equal(idx.rows[0].amname, 'omenhnsw');
  } finally {
    await knex.destroy();
  }
}

async function main() {
  await client.connect();
  await client.query(`CREATE EXTENSION IF NOT EXISTS ${extension}`);
  await registerTypes(client);
  for (const t of types) {
    await checkType(t);
  }
  await checkTextForms();
  await checkKnex();
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
