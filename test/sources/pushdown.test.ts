// Pushdown reads (`pushdown: true`: duckdb, postgres and mysql sources), in the source contract
// suite's style: the same users (NULLs, unicode, timestamps, dates, decimals, a bigint past 2^53,
// JSON) in a real DuckDB file, PostgreSQL schema and MariaDB database, and a real CSV export, planned
// and synced with pushdown and compared with the plain read's answer; the rows of pass 2 as a plain
// read returns them, keys past 2^53 fetched exactly, the state migration for users who synced before
// (nothing re-sent), a row changed between the two passes, mapping changes, and the config checks.
import { DuckDBInstance } from '@duckdb/node-api';
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import type { SourceConfig } from '../../src/config/schema.js';
import { planSync } from '../../src/engine/plan.js';
import { runSync } from '../../src/engine/sync.js';
import type { PushdownSession, Row, SourceReader } from '../../src/sources/contract.js';
import { openSource } from '../../src/sources/index.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { REPO, tempDir, workspaceFor } from '../helpers/index.js';
import { BIG_VISITS, contractUsers, duckdbFixture, mysqlFixture, postgresFixture, USER_COLUMNS, type SourceFixture, type Warehouse } from './fixtures.js';
import { USERS_MAPPING, usersConfig, type UsersSync } from './users-config.js';
import type { SendableRecord } from '../../src/plan/classify.js';

const API_KEY = 'pk_test_pushdown_key_1';

/** The contract suite's sync, read with pushdown unless told otherwise; its query keeps no order. */
function config(source: string, sync: UsersSync & { pushdown?: boolean } = {}): string {
  const { pushdown = true, extra = '', query = 'select * from users', ...rest } = sync;
  return usersConfig(source, { ...rest, query, extra: `\n    pushdown: ${pushdown}${extra}` });
}

/** How many confirmed records of the sync have a source hash kept. */
function sourceHashesKept(dir: string): number {
  const db = new Database(path.join(dir, 'state.db'), { readonly: true });
  try {
    return (db.prepare("select count(*) as n from records where sync = 'users' and source_hash is not null").get() as { n: number }).n;
  } finally {
    db.close();
  }
}

/** Every key with its hash, from pass 1 of a session. */
async function passOne(session: PushdownSession): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for await (const batch of session.keyHashes(7)) batch.keyTexts.forEach((key, index) => hashes.set(key, batch.hashes[index]));
  return hashes;
}

describe.each([duckdbFixture, postgresFixture, mysqlFixture])('pushdown reads from $type', (fixture: SourceFixture) => {
  let dir: string;
  let warehouse: Warehouse;
  let emulator: GamifyHostEmulator;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    dir = tempDir();
    warehouse = await fixture.open(dir);
    await warehouse.createUsers(contractUsers(25));
    await warehouse.exec("update users set name = 'Zoë 東京 🚀' where id = 3");
    emulator = new GamifyHostEmulator([API_KEY]);
    env = { GAMIFY_KEY: API_KEY, GAMIFY_URL: await emulator.start() };
  });
  afterEach(() => emulator.stop());

  const workspace = (sync?: Parameters<typeof config>[1]) => workspaceFor(config(warehouse.source, sync), dir, env);
  /** The source, opened as the engine opens it and closed when the test ends. */
  const openWarehouse = async () => {
    const source = await openSource('warehouse', workspace().config.sources.warehouse as SourceConfig, { configDir: dir });
    onTestFinished(() => source.close());
    return source;
  };
  const plainRows = async (source: SourceReader, query: string) => {
    const rows: Row[] = [];
    for await (const batch of source.read({ query, cursor: null, batchSize: 100 })) rows.push(...batch);
    return rows;
  };

  it('syncs every value type as the plain read does, then sends nothing while nothing changed', async () => {
    const space = workspace();
    const first = await runSync(space, space.config.syncs[0]);
    expect(first).toMatchObject({ outcome: 'success', counts: { read: 25, added: 25, sent: 25 } });
    const byId = (id: string) => emulator.sentBodies.find((body) => body.externalId === id);
    expect(byId('1')?.metadata).toMatchObject({ visits: BIG_VISITS, balance: 100.5, birthday: '1990-02-02', updatedAt: '2026-01-01T00:00:01.250Z' });
    expect(byId('3')?.displayName).toBe('Zoë 東京 🚀');
    // NULLs leave the field out.
    expect(byId('8')?.metadata).not.toHaveProperty('nickname');
    expect(byId('5')?.tags).toEqual({ plan: 'free' });
    expect(sourceHashesKept(dir)).toBe(25);

    const second = await runSync(space, space.config.syncs[0]);
    expect(second).toMatchObject({ outcome: 'success', counts: { read: 25, unchanged: 25, sent: 0 } });
    expect(emulator.received).toHaveLength(25);
  });

  it('finds exactly the changed, new and removed rows, as the plain read does', async () => {
    const space = workspace();
    await runSync(space, space.config.syncs[0]);
    await warehouse.exec("update users set nickname = 'Nëo', balance = 12345678.99 where id = 4");
    await warehouse.exec('update users set nickname = null where id = 7');
    await warehouse.exec('update users set attrs = \'{"tier": "platinum", "score": 11}\' where id = 11');
    await warehouse.exec(`update users set updated_at = ${warehouse.timestamp('2026-03-01T10:00:00.125Z')}, birthday = '2000-01-31' where id = 12`);
    await warehouse.exec('delete from users where id = 9');
    await warehouse.insertUsers(contractUsers(1, 26));

    const pushed = await planSync(space, space.config.syncs[0], { show: 50 });
    const plainSpace = workspace({ pushdown: false });
    const plain = await planSync(plainSpace, plainSpace.config.syncs[0], { show: 50 });
    expect(pushed.counts).toEqual({ added: 1, changed: 4, unchanged: 20, removed: 1, invalid: 0, retry: 0 });
    expect(pushed.counts).toEqual(plain.counts);
    // The same records, but for when each plan ran and the hash only a pushdown read has.
    const comparable = (records: typeof pushed.records) => records.map(({ changedAt: _, sourceHash: __, ...record }) => record);
    expect(comparable(pushed.records)).toEqual(comparable(plain.records));
    expect((pushed.records.find((record) => record.key === '4') as SendableRecord | undefined)?.changes).toEqual([
      { field: 'metadata.balance', old: 400.5, new: 12345678.99 },
      { field: 'metadata.nickname', new: 'Nëo' },
    ]);

    const synced = await runSync(space, space.config.syncs[0]);
    expect(synced.counts).toMatchObject({ read: 25, added: 1, changed: 4, removed: 1, sent: 5 });
    expect((await runSync(space, space.config.syncs[0])).counts).toMatchObject({ unchanged: 25, sent: 0 });
  });

  it('keeps using what an earlier plain sync confirmed: nothing is re-sent, and the first pushdown sync fills the hashes', async () => {
    const plain = workspace({ pushdown: false });
    expect((await runSync(plain, plain.config.syncs[0])).counts).toMatchObject({ sent: 25 });
    expect(sourceHashesKept(dir)).toBe(0);

    const space = workspace();
    // A plan writes nothing: it compares the fetched rows and leaves the state as it was.
    expect((await planSync(space, space.config.syncs[0])).counts).toMatchObject({ unchanged: 25 });
    expect(sourceHashesKept(dir)).toBe(0);
    const first = await runSync(space, space.config.syncs[0]);
    expect(first.counts).toMatchObject({ read: 25, unchanged: 25, sent: 0 });
    expect(sourceHashesKept(dir)).toBe(25);
    expect(emulator.received).toHaveLength(25);
  });

  it('migrates a state file of schema 3 (before source hashes) without re-sending anything', async () => {
    const plain = workspace({ pushdown: false });
    expect((await runSync(plain, plain.config.syncs[0])).counts).toMatchObject({ sent: 25 });
    await plain.close();
    plain.state.close();
    const db = new Database(path.join(dir, 'state.db'));
    db.exec(
      'drop index records_source_hashes; alter table records drop column source_hash; drop table mappings; drop table pending_records; pragma user_version = 3',
    );
    db.close();

    const space = workspace();
    expect((await runSync(space, space.config.syncs[0])).counts).toMatchObject({ read: 25, unchanged: 25, sent: 0 });
    expect(sourceHashesKept(dir)).toBe(25);
    expect(emulator.received).toHaveLength(25);
  });

  it('re-sends every record when the mapping changes, as a plain read does', async () => {
    const space = workspace();
    await runSync(space, space.config.syncs[0]);
    const changed = workspace({ mapping: USERS_MAPPING.replace('displayName: name', 'displayName: { column: name, transform: upper }') });
    const summary = await runSync(changed, changed.config.syncs[0]);
    expect(summary.counts).toMatchObject({ changed: 25, sent: 25 });
    expect(emulator.sentBodies.slice(25).find((body) => body.externalId === '3')?.displayName).toBe('ZOË 東京 🚀');
  });

  it('reports a repeated key and a null key as the plain read does', async () => {
    const others = USER_COLUMNS.slice(1).map(([name]) => name);
    const query = `select * from users union all select * from users where id = 2 union all select null as id, ${others.join(', ')} from users where id = 3`;
    const space = workspace({ query });
    const plain = workspace({ query, pushdown: false });
    const first = await planSync(space, space.config.syncs[0], { show: 50 });
    expect(first.counts).toEqual((await planSync(plain, plain.config.syncs[0], { show: 50 })).counts);
    expect(first.counts).toMatchObject({ added: 25, invalid: 2 });
    await runSync(space, space.config.syncs[0]);
    const steady = await planSync(space, space.config.syncs[0], { show: 50 });
    expect(steady.counts).toEqual((await planSync(plain, plain.config.syncs[0], { show: 50 })).counts);
    expect(steady.counts).toMatchObject({ unchanged: 25, invalid: 2 });
  });

  it('stops before reading when the query lacks a column the mapping reads', async () => {
    const space = workspace({ query: 'select id, name from users' });
    const summary = await runSync(space, space.config.syncs[0]);
    expect(summary.outcome).toBe('failed');
    expect(summary.error).toMatch(/returned no column "email" \(read by the mapping\)/);
    expect(emulator.received).toHaveLength(0);
  });

  it('fetches the rows of pass 2 exactly as a plain read returns them, each with the hash pass 1 gave it', async () => {
    const source = await openWarehouse();
    const session = await source.pushdown!(
      { query: 'select * from users', cursor: null, batchSize: 100 },
      { primaryKey: 'id', columns: ['plan', 'attrs.tier'] },
    );
    try {
      const hashes = await passOne(session);
      expect(hashes.size).toBe(25);
      const { rows, hashes: fetched } = await session.rowsFor(['1', '3', '5', '8', '404']);
      const plain = await plainRows(source, 'select * from users where id in (1, 3, 5, 8)');
      const byId = (list: Row[]) => [...list].sort((a, b) => Number(a.id) - Number(b.id));
      expect(byId(rows)).toEqual(byId(plain));
      expect(rows.find((row) => row.id === 3)?.name).toBe('Zoë 東京 🚀');
      expect(rows.find((row) => row.id === 1)?.visits).toBe(BIG_VISITS);
      rows.forEach((row, index) => expect(fetched[index]).toBe(hashes.get(String(row.id))));
    } finally {
      await session.close();
    }
  });

  it('hashes NULL apart from an empty text or its marker, and values apart however their text splits', async () => {
    const pairs = [
      ["''", "'x'"],
      ['null', "'x'"],
      ["'N'", "'x'"],
      ["'ab'", "'c'"],
      ["'a'", "'bc'"],
      ["'a,b'", "'c'"],
      ["'a'", "'b,c'"],
      ["'a'", 'null'],
      ['null', "'a'"],
      ["'1:a'", "''"],
      ["'1'", "':a'"],
    ];
    // One key for every row: only the values tell the rows apart.
    const query = pairs.map(([a, b], index) => (index === 0 ? `select 1 as k, ${a} as a, ${b} as b` : `select 1, ${a}, ${b}`)).join(' union all ');
    const source = await openWarehouse();
    const session = await source.pushdown!({ query, cursor: null, batchSize: 100 }, { primaryKey: 'k', columns: ['a', 'b'] });
    try {
      const hashes: string[] = [];
      for await (const batch of session.keyHashes(100)) hashes.push(...batch.hashes);
      expect(hashes).toHaveLength(pairs.length);
      expect(new Set(hashes).size).toBe(pairs.length);
    } finally {
      await session.close();
    }
  });

  it('fetches keys past 2^53 exactly, never a neighbour that rounds to the same number', async () => {
    await warehouse.createTable(
      'big',
      [
        ['id', 'key'],
        ['plan', 'text'],
      ],
      [
        { id: '9007199254740992', plan: 'even' },
        { id: BIG_VISITS, plan: 'odd' },
      ],
    );
    const source = await openWarehouse();
    const session = await source.pushdown!({ query: 'select * from big', cursor: null, batchSize: 100 }, { primaryKey: 'id', columns: ['plan'] });
    try {
      const hashes = await passOne(session);
      expect([...hashes.keys()].sort()).toEqual(['9007199254740992', BIG_VISITS]);
      const { rows, hashes: fetched } = await session.rowsFor([BIG_VISITS]);
      expect(rows).toEqual([{ id: BIG_VISITS, plan: 'odd' }]);
      expect(fetched).toEqual([hashes.get(BIG_VISITS)]);
    } finally {
      await session.close();
    }
  });

  it("names the engine, its version and the hashed columns' types in the signature, so a type change re-fetches every row", async () => {
    const alter = {
      duckdb: 'alter table users alter balance type decimal(14,2)',
      postgres: 'alter table users alter column balance type numeric(14,2)',
      mysql: 'alter table users modify balance decimal(14,2)',
    }[fixture.type as 'duckdb' | 'postgres' | 'mysql'];
    const signature = async () => {
      const source = await openWarehouse();
      const session = await source.pushdown!(
        { query: 'select * from users', cursor: null, batchSize: 100 },
        { primaryKey: 'id', columns: ['balance', 'plan'] },
      );
      const hashes = await passOne(session);
      await session.close();
      await source.close();
      return { signature: session.signature, hashes };
    };
    const before = await signature();
    expect(before.signature).toMatch(new RegExp(`^${fixture.type} \\S*\\d+\\.\\d+`));
    expect(before.signature).toContain('balance');
    await warehouse.exec(alter);
    const after = await signature();
    expect(after.signature).not.toBe(before.signature);
    // The same values, so the same text: only the signature (part of the salt) says the meaning changed.
    expect(after.hashes).toEqual(before.hashes);
  });

  it.runIf(fixture.type !== 'duckdb')('reads one snapshot in both passes: a row changed between them is found on the next run', async () => {
    const space = workspace();
    await runSync(space, space.config.syncs[0]);
    await warehouse.exec("update users set plan = 'team' where id = 4");
    const source = await openWarehouse();
    const session = await source.pushdown!({ query: 'select * from users', cursor: null, batchSize: 100 }, { primaryKey: 'id', columns: ['plan'] });
    try {
      const hashes = await passOne(session);
      // Committed after pass 1 read every key, before pass 2 fetches.
      await warehouse.exec("update users set plan = 'enterprise' where id in (3, 4)");
      await warehouse.exec('delete from users where id = 5');
      const { rows, hashes: fetched } = await session.rowsFor(['3', '4', '5']);
      // Each row as pass 1 saw it, with pass 1's hash, in whatever order the database returns them.
      const fetchedRows = rows.map((row, index) => [row.id, row.plan, fetched[index]]).sort((a, b) => Number(a[0]) - Number(b[0]));
      expect(fetchedRows).toEqual([
        [3, 'free', hashes.get('3')],
        [4, 'team', hashes.get('4')],
        [5, 'free', hashes.get('5')],
      ]);
    } finally {
      await session.close();
    }
    // The sync's own two passes, after the change: 3 and 4 changed, 5 removed.
    const plan = await planSync(space, space.config.syncs[0], { show: 50 });
    expect(plan.counts).toMatchObject({ changed: 2, removed: 1, unchanged: 22 });
  });

  it.runIf(fixture.type === 'duckdb')('holds the file read-only through both passes: no writer can change it in between', async () => {
    const source = await openWarehouse();
    const session = await source.pushdown!({ query: 'select * from users', cursor: null, batchSize: 100 }, { primaryKey: 'id', columns: ['plan'] });
    try {
      for await (const batch of session.keyHashes(100)) expect(batch.keys).toHaveLength(25);
      // Another process tries to open the file to write while the session holds it.
      const writer = `import('@duckdb/node-api').then(async ({ DuckDBInstance }) => { await DuckDBInstance.create(${JSON.stringify(path.join(dir, 'warehouse.duckdb'))}); })`;
      await expect(promisify(execFile)(process.execPath, ['-e', writer], { cwd: REPO })).rejects.toThrow(/lock/i);
      expect((await session.rowsFor(['4'])).rows).toMatchObject([{ id: 4, plan: 'pro' }]);
    } finally {
      await session.close();
    }
  });
});

describe('pushdown reads from a CSV export', () => {
  it('sees a row changed between the two passes as it is at the second', async () => {
    const dir = tempDir();
    const write = async (plan: string) => {
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      await connection.run(
        `copy (select i as id, 'User ' || i as name, case when i = 3 then '${plan}' else 'free' end as plan from range(1, 6) t(i)) to '${dir}/users.csv' (header)`,
      );
      connection.closeSync();
      instance.closeSync();
    };
    await write('free');
    const source = await openSource('exports', { type: 'duckdb' }, { configDir: dir });
    onTestFinished(() => source.close());
    const session = await source.pushdown!(
      { query: "select * from read_csv_auto('users.csv')", cursor: null, batchSize: 100 },
      { primaryKey: 'id', columns: ['plan'] },
    );
    try {
      const first = new Map<string, string>();
      for await (const batch of session.keyHashes(100)) batch.keyTexts.forEach((key, index) => first.set(key, batch.hashes[index]));
      expect([...first.keys()]).toEqual(['1', '2', '3', '4', '5']);
      await write('team');
      const { rows, hashes } = await session.rowsFor(['3', '4']);
      expect(rows).toEqual([
        { id: 3, name: 'User 3', plan: 'team' },
        { id: 4, name: 'User 4', plan: 'free' },
      ]);
      // The row as fetched comes with its own hash: the changed one differs from pass 1's.
      expect(hashes[0]).not.toBe(first.get('3'));
      expect(hashes[1]).toBe(first.get('4'));
    } finally {
      await session.close();
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('the pushdown setting', () => {
  it.each([
    [
      'a source that cannot hash rows itself',
      '{ type: sqlite, path: ./warehouse.db }',
      '',
      /pushdown: true needs a source that hashes rows itself \(duckdb, postgres, mysql\); a sqlite source cannot/,
    ],
    ['a cursor', '{ type: duckdb }', '\n    cursor: updated_at', /pushdown: true reads every row, and a cursor reads only newer rows/],
  ])('is refused with %s', (_, source, extra, message) => {
    const dir = tempDir();
    expect(() => workspaceFor(config(source, { extra }), dir, { GAMIFY_KEY: API_KEY, GAMIFY_URL: 'http://127.0.0.1:9' })).toThrow(message);
  });
});
