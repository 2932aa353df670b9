// Plan classification, on a SQLite warehouse and on the real PostgreSQL: every class, and the
// promise that plan writes nothing and calls no destination.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { planSync } from '../src/engine/plan.js';
import { runSync } from '../src/engine/sync.js';
import type { Workspace } from '../src/engine/workspace.js';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, sqliteExec, sqliteRows, sqliteTable, tempDir, users, workspaceFor } from './helpers/index.js';
import type { SendableRecord } from '../src/plan/classify.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

interface Warehouse {
  /** The `source:` YAML and the query for the sync. */
  source(): string;
  query: string;
  load(rows: ReturnType<typeof users>): Promise<void>;
  exec(sql: string): Promise<void>;
}

function sqliteWarehouse(dir: () => string): Warehouse {
  return {
    source: () => '{ type: sqlite, path: ./warehouse.db }',
    query: 'select * from users',
    load: async (rows) => sqliteTable(path.join(dir(), 'warehouse.db'), 'users', rows),
    exec: async (sql) => sqliteExec(path.join(dir(), 'warehouse.db'), sql),
  };
}

function postgresWarehouse(schema: () => string): Warehouse {
  const run = async (sql: string) => {
    const client = new pg.Client(PG_URL);
    await client.connect();
    try {
      await client.query(`set search_path to ${schema()}`);
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    source: () => `{ type: postgres, url: "${PG_URL}" }`,
    get query() {
      return `select * from ${schema()}.users`;
    },
    load: async (rows) => {
      await run('create table users (id integer primary key, name text, email text, country text, plan text, updated_at timestamptz)');
      const values = rows.map((row) => `(${row.id}, '${row.name}', '${row.email}', '${row.country}', '${row.plan}', '${row.updated_at}')`).join(',');
      await run(`insert into users values ${values}`);
    },
    exec: run,
  };
}

let schemaCounter = 0;
const schemaName = `plan_test_${process.pid}`;

describe.each([
  ['SQLite', 'sqlite'],
  ['PostgreSQL', 'postgres'],
] as const)('plan on %s', (_label, kind) => {
  let dir: string;
  let schema = '';
  let emulator: GamifyHostEmulator;
  let workspace: Workspace;
  const warehouse = kind === 'sqlite' ? sqliteWarehouse(() => dir) : postgresWarehouse(() => schema);

  beforeEach(async () => {
    dir = tempDir();
    schema = `${schemaName}_${++schemaCounter}`;
    if (kind === 'postgres') {
      const client = new pg.Client(PG_URL);
      await client.connect();
      await client.query(`create schema ${schema}`);
      await client.end();
    }
    emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
    await warehouse.load(users(10));
    workspace = workspaceFor(gamifyConfig({ url: await emulator.start(), source: warehouse.source(), query: warehouse.query }), dir);
  });

  afterEach(async () => {
    await emulator.stop();
    if (kind === 'postgres') {
      const client = new pg.Client(PG_URL);
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
  });

  const sync = () => workspace.syncNamed('users');

  it('classifies every record as added before the first sync, and makes no request', async () => {
    const plan = await planSync(workspace, sync());
    expect(plan.counts).toEqual({ added: 10, changed: 0, unchanged: 0, removed: 0, invalid: 0, retry: 0 });
    expect(plan.requests).toBe(10);
    expect(emulator.received).toHaveLength(0);
  });

  it('after a sync, finds changed, removed, invalid and unchanged records with field diffs', async () => {
    await runSync(workspace, sync());
    await warehouse.exec(`
      update users set plan = 'enterprise' where id = 2;
      update users set name = null where id = 3;
      delete from users where id = 4;
      update users set country = 'zz' where id = 5;`);
    const plan = await planSync(workspace, sync());
    expect(plan.counts).toEqual({ added: 0, changed: 2, unchanged: 6, removed: 1, invalid: 1, retry: 0 });
    const byKey = Object.fromEntries(plan.records.map((record) => [record.key, record]));
    expect((byKey['2'] as SendableRecord).changes).toEqual([{ field: 'tags.plan', old: 'pro', new: 'enterprise' }]);
    // A null leaves the field out of the payload: the diff shows it absent, nothing is wiped.
    expect((byKey['3'] as SendableRecord).changes).toEqual([{ field: 'displayName', old: 'User 3' }]);
    expect(byKey['4'].class).toBe('removed');
    expect(byKey['5']).toMatchObject({ class: 'invalid', reason: 'country: must be an ISO 3166-1 alpha-2 code such as NG, US or GB (got "ZZ")' });
    expect(emulator.received).toHaveLength(10);
  });

  it('marks a record rejected by the destination as retry on the next plan', async () => {
    emulator.inject(
      { kind: 'status', status: 400, body: { status: 'error', code: 'BAD_REQUEST', message: 'Invalid request body (blocked user)' } },
      1,
      (request) => (request.body as { externalId?: string }).externalId === '6',
    );
    const run = await runSync(workspace, sync());
    expect(run.outcome).toBe('partial');
    const plan = await planSync(workspace, sync());
    expect(plan.counts).toMatchObject({ retry: 1, unchanged: 9 });
    expect(plan.records[0]).toMatchObject({ key: '6', class: 'retry', reason: 'HTTP 400: Invalid request body (blocked user)' });
  });

  it('reports duplicate and null primary keys as invalid, naming the key', async () => {
    await warehouse.exec(`insert into users (id, name) values (11, 'Twin A')`);
    const query = `${warehouse.query} union all select 11, 'Twin B', null, null, null, null union all select null, 'No id', null, null, null, null`;
    const dup = workspaceFor(gamifyConfig({ url: emulator.url, source: warehouse.source(), query: JSON.stringify(query) }), dir);
    const plan = await planSync(dup, dup.syncNamed('users'));
    expect(plan.counts).toMatchObject({ added: 11, invalid: 2 });
    expect(plan.records.filter((record) => record.class === 'invalid').map((record) => record.reason)).toEqual([
      'duplicate primary key: the query returned "11" more than once; only the first row is used',
      'primary key column "id" is null or missing in this row',
    ]);
  });

  it('finds a duplicate key twice in one batch and in a later batch, keeping the first row', async () => {
    // Batches of 3 rows: the fourth holds users 10, 11 and 11 again; the fifth brings user 2 back.
    const query = `select * from (${warehouse.query}) as u union all select 11, 'New', null, null, null, null union all select 11, 'Twin', null, null, null, null union all select 2, 'Again', null, null, null, null`;
    const dup = workspaceFor(gamifyConfig({ url: emulator.url, source: warehouse.source(), query: JSON.stringify(query), syncExtra: '    batchSize: 3' }), dir);
    const sent: string[] = [];
    const plan = await planSync(dup, dup.syncNamed('users'), {
      onSendable: (record) => sent.push(`${record.key}:${(record.payload as { displayName?: string }).displayName}`),
    });
    expect(plan.counts).toMatchObject({ added: 11, invalid: 2 });
    expect(plan.records.filter((record) => record.class === 'invalid').map((record) => record.key)).toEqual(['11', '2']);
    expect(sent.filter((entry) => entry.startsWith('11:') || entry.startsWith('2:'))).toEqual(['2:User 2', '11:New']);
  });

  it('knows a row read again unchanged by its hash, and compares a row changed outside the mapping by payload', async () => {
    const stateFile = path.join(dir, 'state.db');
    const rowHash = (key: string) => sqliteRows<{ row_hash: string }>(stateFile, `select row_hash from records where key = '${key}'`)[0].row_hash;
    await runSync(workspace, sync());
    expect(sqliteRows(stateFile, 'select key from records where row_hash is null')).toEqual([]);
    const before = rowHash('1');

    // updated_at is not mapped: the row differs, its payload does not.
    await warehouse.exec(`update users set updated_at = '2031-01-01T00:00:00Z' where id = 1`);
    expect((await planSync(workspace, sync())).counts).toMatchObject({ unchanged: 10, changed: 0 });
    expect(rowHash('1')).toBe(before); // plan writes nothing
    const run = await runSync(workspace, sync());
    expect(run.counts).toMatchObject({ unchanged: 10, sent: 0 });
    expect(emulator.received).toHaveLength(10);
    // Sync remembers the new row, so the next run knows it from its hash alone.
    expect(rowHash('1')).not.toBe(before);
    expect(rowHash('1')).toMatch(/^[\w-]{32}$/);
  });

  it('compares every row again by payload when the mapping changes, though no row did', async () => {
    await runSync(workspace, sync());
    const mapping = `      externalId: id
      displayName: name
      email: email
      country: { column: country, transform: upper }
      tags.plan: plan
      source: { value: organic }`;
    const remapped = workspaceFor(gamifyConfig({ url: emulator.url, source: warehouse.source(), query: warehouse.query, mapping }), dir);
    const plan = await planSync(remapped, remapped.syncNamed('users'));
    expect(plan.counts).toMatchObject({ changed: 10, unchanged: 0 });
    expect((plan.records[0] as SendableRecord).changes).toEqual([{ field: 'source', new: 'organic' }]);
  });

  it('finds duplicates of rows already synced, in one batch and across batches', async () => {
    await runSync(workspace, sync());
    // Batches of 3: the fourth holds user 10, user 10 again, and user 2 again; all exactly as synced.
    const query = `select * from (${warehouse.query}) as u union all select * from (${warehouse.query}) as t where id in (10, 2)`;
    const dup = workspaceFor(gamifyConfig({ url: emulator.url, source: warehouse.source(), query: JSON.stringify(query), syncExtra: '    batchSize: 3' }), dir);
    const plan = await planSync(dup, dup.syncNamed('users'));
    expect(plan.counts).toMatchObject({ unchanged: 10, invalid: 2, changed: 0 });
    expect(plan.records.map((record) => `${record.key}:${record.class}`).sort()).toEqual(['10:invalid', '2:invalid']);
  });

  it('never writes the state file', async () => {
    const stateFile = path.join(dir, 'state.db');
    await runSync(workspace, sync());
    const before = fs.readFileSync(stateFile);
    const generation = workspace.state.generation('users');
    await warehouse.exec(`update users set plan = 'x' where id = 1`);
    await planSync(workspace, sync());
    expect(workspace.state.generation('users')).toBe(generation);
    expect(fs.readFileSync(stateFile).equals(before)).toBe(true);
  });
});
