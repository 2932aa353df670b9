// The PostgreSQL source reads with COPY (text format): against the real server, each value arrives
// exactly as the row protocol (a pg query with the source's own type parsers) delivers it, and as
// README "How values arrive" documents; the cursor binds as a literal; the timeout ends a stalled read.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Row, SourceReader } from '../../src/sources/contract.js';
import { openSource } from '../../src/sources/index.js';
import { valueTypes } from '../../src/sources/postgres.js';
import { exactInstant } from '../../src/sources/values.js';
import { waitUntil } from '../helpers/index.js';
import { POSTGRES_URL } from './fixtures.js';

let schema: string;
let admin: pg.Client;
let source: SourceReader;

const open = (settings: Record<string, unknown> = {}) =>
  openSource('warehouse', { type: 'postgres', url: `${POSTGRES_URL}?options=-c%20search_path%3D${schema}`, ...settings } as { type: string }, {
    configDir: '.',
  });

async function readAll(reader: SourceReader, query: string, options: { cursorColumn?: string; cursor?: unknown; batchSize?: number } = {}): Promise<Row[][]> {
  const batches: Row[][] = [];
  for await (const batch of reader.read({ query, cursor: options.cursor ?? null, cursorColumn: options.cursorColumn, batchSize: options.batchSize ?? 1000 })) {
    batches.push(batch);
  }
  return batches;
}

/** The same query through the row protocol, with the source's parsers: what the reader gave before COPY. */
async function rowProtocol(query: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, types: valueTypes });
  await client.connect();
  try {
    await client.query(`set search_path = ${schema}`);
    return (await client.query(query)).rows;
  } finally {
    await client.end();
  }
}

beforeEach(async () => {
  schema = `bf_${randomBytes(5).toString('hex')}`;
  admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}; set search_path = ${schema}`);
  source = await open();
});
afterEach(async () => {
  await source.close();
  await admin.query(`drop schema ${schema} cascade`);
  await admin.end();
});

const TEXTS: [number, string | null][] = [
  [1, null],
  [2, ''],
  [3, '\\N'],
  [4, 'tab\there, newline\nthere, cr\rthere, backslash \\ and \\t as text'],
  [5, 'zoë 🚀 中文 عربى'],
  [6, '\b\f\v\u0001 control'],
  [7, 'N'],
];

describe('the PostgreSQL COPY reader', () => {
  it('tells NULL from empty text and from the text \\N, and keeps tabs, newlines, backslashes and unicode', async () => {
    await admin.query('create table t (id int primary key, body text)');
    for (const [id, body] of TEXTS) await admin.query('insert into t values ($1, $2)', [id, body]);
    const rows = (await readAll(source, 'select * from t order by id')).flat();
    expect(rows).toEqual(TEXTS.map(([id, body]) => ({ id, body })));
    expect(rows).toEqual(await rowProtocol('select * from t order by id'));
  });

  it('reads every documented type as the row protocol does', async () => {
    await admin.query(`create table v (
      id int, big bigint, small_big bigint, amount numeric, price numeric(12,2), ratio real, wide double precision, flag boolean,
      at_utc timestamp(6), at_zone timestamptz(6), day date, span interval, clock time, ident uuid, doc jsonb, raw json,
      tags text[], counts int[], blob bytea, empty_tags text[], tricky_json jsonb)`);
    await admin.query(`insert into v values
      (1, 9007199254740993, 42, 12345678901234567890.123450, 1234.50, 3.5, 0.1, true,
       '2026-03-01 10:00:00.123456', '2026-03-01 10:00:00.654321+02', '1990-02-08', '1 day 02:00:00', '13:45:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
       '{"tier": "gold", "nested": {"list": [1, 2.5, null]}}', '[1, "two"]',
       array['a b', 'c"d', null, 'e\\f', 'tab\tin', '{braces}'], array[1, 2, 3], '\\x00ff5c0a'::bytea, '{}',
       '{"quote": "say \\"hi\\"", "path": "C:\\\\tmp", "tab": "a\\tb", "snow": "\\u2603"}'),
      (2, -9223372036854775808, -7, -0.000001, 0, '-Infinity', 'NaN', false,
       '1999-12-31 23:59:59', '2026-06-30 23:59:59.999999-07', '2000-02-29', '-3 mons', '00:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12',
       'null', '"text"', array[]::text[], null, ''::bytea, null, '{}'),
      (3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null)`);
    const query = 'select * from v order by id';
    const rows = (await readAll(source, query)).flat();
    expect(rows).toEqual(await rowProtocol(query));
    expect(rows[0]).toEqual({
      id: 1,
      big: '9007199254740993',
      small_big: 42,
      amount: '12345678901234567890.123450',
      price: '1234.50',
      ratio: 3.5,
      wide: 0.1,
      flag: true,
      at_utc: new Date('2026-03-01T10:00:00.123Z'),
      at_zone: new Date('2026-03-01T08:00:00.654Z'),
      day: '1990-02-08',
      span: '1 day 02:00:00',
      clock: '13:45:00',
      ident: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      doc: { tier: 'gold', nested: { list: [1, 2.5, null] } },
      raw: [1, 'two'],
      tags: ['a b', 'c"d', null, 'e\\f', 'tab\tin', '{braces}'],
      counts: [1, 2, 3],
      blob: Buffer.from([0x00, 0xff, 0x5c, 0x0a]),
      empty_tags: [],
      tricky_json: { quote: 'say "hi"', path: 'C:\\tmp', tab: 'a\tb', snow: '☃' },
    });
    expect(rows[1]).toMatchObject({ big: '-9223372036854775808', small_big: -7, amount: '-0.000001', ratio: -Infinity, flag: false, doc: null, raw: 'text' });
    expect(rows[1].wide).toBeNaN();
    expect(rows[1].blob).toEqual(Buffer.alloc(0));
    expect(rows[2]).toEqual(Object.fromEntries(Object.keys(rows[0]).map((name) => [name, name === 'id' ? 3 : null])));
    // The cursor's microseconds survive, whatever the zone the server printed.
    expect(exactInstant(rows[0].at_utc)).toBe('2026-03-01T10:00:00.123456Z');
    expect(exactInstant(rows[0].at_zone)).toBe('2026-03-01T08:00:00.654321Z');
    expect(exactInstant(rows[1].at_zone)).toBe('2026-07-01T06:59:59.999999Z');
  });

  it('streams many rows, and values longer than a network read, in order and in batches', async () => {
    await admin.query(`create table w (id int primary key, body text)`);
    await admin.query(`insert into w select i, repeat(E'x\\ty\\\\', case when i = 777 then 100000 else 3 end) from generate_series(1, 20000) as i`);
    const batches = await readAll(source, 'select * from w order by id', { batchSize: 1500 });
    expect(batches.map((batch) => batch.length)).toEqual([...Array(13).fill(1500), 500]);
    const rows = batches.flat();
    expect(rows.map((row) => row.id)).toEqual(Array.from({ length: 20000 }, (_, index) => index + 1));
    expect(rows[776].body).toBe('x\ty\\'.repeat(100000));
    expect(rows[0].body).toBe('x\ty\\'.repeat(3));
  });

  it('holds a bounded part of the result: the server waits on the reader, and an abandoned read ends the COPY', async () => {
    await admin.query(`create table big (id int primary key, body text)`);
    await admin.query(`insert into big select i, repeat('x', 200) from generate_series(1, 200000) as i`);
    const batches = source.read({ query: 'select * from big order by id', cursor: null, batchSize: 100 })[Symbol.asyncIterator]();
    expect((await batches.next()).value).toHaveLength(100);
    // 40 MB of rows: the server blocks writing them to the client instead of the reader taking them all.
    const copying = () => admin.query(`select wait_event from pg_stat_activity where query like 'copy (select * from big%' and pid <> pg_backend_pid()`);
    await waitUntil('the COPY to wait on the reader', async () => (await copying()).rows[0]?.wait_event === 'ClientWrite');
    await batches.return!(undefined);
    // The read's transaction is gone: the table can be dropped at once (the lock timeout would fail this).
    await admin.query(`set lock_timeout = '5s'; drop table big`);
  });

  it('binds a text cursor with quotes and backslashes as a literal, and null on a full read', async () => {
    await admin.query('create table c (name text primary key)');
    await admin.query(`insert into c values ('a'), ($1), ($2), ('z')`, ["o'brien", 'o\\neil']);
    const query = 'select * from c where :cursor::text is null or name > :cursor order by name';
    expect((await readAll(source, query)).flat()).toHaveLength(4);
    const after = (await readAll(source, query, { cursorColumn: 'name', cursor: "o'brien" })).flat();
    expect(after.map((row) => row.name)).toEqual(['o\\neil', 'z']);
    // Around a query without :cursor, Backflow filters past the cursor itself.
    const wrapped = (await readAll(source, 'select * from c', { cursorColumn: 'name', cursor: 'o\\neil' })).flat();
    expect(wrapped.map((row) => row.name)).toEqual(['z']);
  });

  it('refuses a query that is two statements, and changes nothing', async () => {
    await admin.query('create table d (id int)');
    await admin.query('insert into d values (1)');
    await expect(readAll(source, 'select 1 as id) to stdout; delete from d; copy (select 1')).rejects.toThrow(/^source "warehouse" \(postgres\): /);
    expect((await admin.query('select count(*)::int as n from d')).rows[0].n).toBe(1);
  });

  it('cancels a read whose next batch takes longer than statementTimeoutSeconds, and says so', async () => {
    const slow = await open({ statementTimeoutSeconds: 1 });
    try {
      const query = `select i, pg_sleep(case when i = 3 then 60 else 0 end) as pause, '${schema}' as marker from generate_series(1, 5) as i`;
      await expect(readAll(slow, query, { batchSize: 2 })).rejects.toThrow(
        'source "warehouse" (postgres): the query was cancelled: its next 2 rows took longer than statementTimeoutSeconds (1 s)',
      );
      // The server stopped the query, rather than sleeping on for a minute.
      const running = await admin.query(`select count(*)::int as n from pg_stat_activity where query like '%${schema}%' and pid <> pg_backend_pid()`);
      expect(running.rows[0].n).toBe(0);
    } finally {
      await slow.close();
    }
  });
});
