// The source contract, proved the same way for every source type against the real engine: batches,
// :cursor binding and auto-wrapped incremental reads across runs, value types, columns() for
// `validate --connect`, clear errors, read-only reads, and an end-to-end sync to GamifyHost.
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { runSync } from '../../src/engine/sync.js';
import type { SourceConfig } from '../../src/config/schema.js';
import type { ReadRequest, Row, SourceReader } from '../../src/sources/contract.js';
import { openSource } from '../../src/sources/index.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { demoUser } from '../../demo/warehouse.js';
import { REPO, runCli, tempDir, workspaceFor, writeFile } from '../helpers/index.js';
import { BIG_VISITS, contractUsers, DEMO_COLUMNS, SOURCE_FIXTURES, type SourceFixture, type Warehouse } from './fixtures.js';
import { usersConfig, type UsersSync } from './users-config.js';

const API_KEY = 'pk_test_contract_key_1';

async function readAll(reader: SourceReader, request: Partial<ReadRequest> & { query: string }): Promise<Row[][]> {
  const batches: Row[][] = [];
  for await (const batch of reader.read({ cursor: null, batchSize: 1000, ...request })) batches.push(batch);
  return batches;
}

describe.each(SOURCE_FIXTURES)('the $type source', (fixture: SourceFixture) => {
  let dir: string;
  let warehouse: Warehouse;
  let emulator: GamifyHostEmulator;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    dir = tempDir();
    warehouse = await fixture.open(dir);
    await warehouse.createUsers(contractUsers(25));
    emulator = new GamifyHostEmulator([API_KEY]);
    env = { GAMIFY_KEY: API_KEY, GAMIFY_URL: await emulator.start() };
  });
  afterEach(() => emulator.stop());

  const workspace = (sync?: UsersSync) => workspaceFor(usersConfig(warehouse.source, sync), dir, env);
  // Each reader is closed when its test ends, as the engine closes each read's reader.
  const reader = async (sync?: UsersSync) => {
    const space = workspace(sync);
    const { source } = space.config.syncs[0];
    const opened = await openSource(source, space.config.sources[source] as SourceConfig, { configDir: space.loaded.dir });
    onTestFinished(() => opened.close());
    return opened;
  };

  it('streams rows in batches of at most batchSize, in the order of the query', async () => {
    const batches = await readAll(await reader(), { query: 'select id from users order by id', batchSize: 4 });
    expect(batches.map((batch) => batch.length)).toEqual([4, 4, 4, 4, 4, 4, 1]);
    expect(batches.flat().map((row) => row.id)).toEqual(Array.from({ length: 25 }, (_, index) => index + 1));
  });

  it('reads timestamps, decimals, bigints, JSON, dates and NULLs as documented', async () => {
    const rows = (await readAll(await reader(), { query: 'select * from users where id in (1, 2, 5) order by id' })).flat();
    expect(rows[0]).toEqual({
      id: 1,
      name: 'User 1',
      email: 'user1@example.com',
      country: 'us',
      plan: 'free',
      updated_at: fixture.reads.timestamp('2026-01-01T00:00:01.250Z'),
      balance: fixture.reads.decimal('100.50'),
      visits: BIG_VISITS,
      attrs: { tier: 'gold', score: 1 },
      birthday: '1990-02-02',
      nickname: 'nick1',
    });
    expect(rows[1]).toMatchObject({ id: 2, visits: 20, nickname: null, attrs: { tier: 'silver', score: 2 } });
    expect(rows[2]).toMatchObject({ id: 5, attrs: null });
  });

  it('binds :cursor as null on a full read and as the stored cursor after it', async () => {
    const source = await reader();
    const query = `select id, updated_at from users where ${fixture.cursorIsNull} or updated_at > :cursor order by updated_at`;
    expect((await readAll(source, { query, cursorColumn: 'updated_at' })).flat()).toHaveLength(25);
    const after = (await readAll(source, { query, cursorColumn: 'updated_at', cursor: '2026-01-01T00:00:20.250Z' })).flat();
    expect(after.map((row) => row.id)).toEqual([21, 22, 23, 24, 25]);
  });

  // PostgreSQL, MySQL and DuckDB keep microseconds, so their stored cursor has six fractional digits.
  const storedCursor = (iso: string) => (fixture.type === 'sqlite' ? iso : iso.replace(/(\.\d{3})Z$/, '$1000Z'));

  it.each([
    ['binds :cursor in the query', `select * from users where ${fixture.cursorIsNull} or updated_at > :cursor`],
    ['filters past the cursor around a query without :cursor', 'select * from users'],
  ])('reads only newer rows on the next run when it %s', async (_, query) => {
    const space = workspace({ query, cursor: 'updated_at' });
    const sync = space.config.syncs[0];

    const first = await runSync(space, sync);
    expect(first).toMatchObject({ outcome: 'success', counts: { read: 25, sent: 25 } });
    expect(space.state.getCursor('users')).toBe(storedCursor('2026-01-01T00:00:25.250Z'));

    // The stored cursor binds back exactly: the newest row is not read again.
    expect((await runSync(space, sync)).counts).toMatchObject({ read: 0, sent: 0 });

    await warehouse.exec(`update users set plan = 'enterprise', updated_at = ${warehouse.timestamp('2026-02-01T00:00:00.500Z')} where id = 3`);
    await warehouse.insertUsers(contractUsers(2, 26));
    const third = await runSync(space, sync);
    expect(third).toMatchObject({ outcome: 'success', counts: { read: 3, changed: 1, added: 2, sent: 3 } });
    expect(
      emulator.sentBodies
        .slice(25)
        .map((body) => body.externalId)
        .sort(),
    ).toEqual(['26', '27', '3']);
    expect(emulator.profile('3')?.tags).toEqual({ plan: 'enterprise', tier: 'gold' });
    expect(space.state.getCursor('users')).toBe(storedCursor('2026-02-01T00:00:00.500Z'));
    expect((await runSync(space, sync)).counts).toMatchObject({ read: 0 });
  });

  it('returns the query columns without reading rows, for validate --connect', async () => {
    const source = await reader();
    expect(await source.columns({ query: 'select id, email as mail from users', cursor: null, batchSize: 1 })).toEqual(['id', 'mail']);
    expect(
      await source.columns({
        query: `select id, updated_at from users where ${fixture.cursorIsNull} or updated_at > :cursor`,
        cursorColumn: 'updated_at',
        cursor: null,
        batchSize: 1,
      }),
    ).toEqual(['id', 'updated_at']);
  });

  it('fails a sync with an error that names the source and the engine’s reason', async () => {
    const space = workspace({ query: 'select * from no_such_table' });
    const summary = await runSync(space, space.config.syncs[0]);
    expect(summary.outcome).toBe('failed');
    expect(summary.error).toMatch(new RegExp(`^source "warehouse" \\(${fixture.type}\\): .*no_such_table`, 's'));
    expect(emulator.received).toHaveLength(0);
  });

  it('reads without writing: a query that deletes is refused and changes nothing', async () => {
    await expect(readAll(await reader(), { query: 'delete from users' })).rejects.toThrow(/^source "warehouse"/);
    expect(await warehouse.count('users')).toBe(25);
  });

  it('releases the table when a read stops early', async () => {
    const batches = (await reader()).read({ query: 'select * from users order by id', cursor: null, batchSize: 5 });
    for await (const batch of batches) {
      expect(batch).toHaveLength(5);
      break;
    }
    // A read transaction or file lock still held would make this wait (and fail on the lock timeout).
    await warehouse.exec('drop table users');
    await expect(warehouse.count('users')).rejects.toThrow();
  });

  it('reports mapping columns the query lacks with validate --connect', async () => {
    const text = usersConfig(warehouse.source).replace(
      'syncs:',
      'syncs:\n  - { name: bad, source: warehouse, query: "select id, email from users", primaryKey: id, destination: gamify, mapping: { externalId: id, email: emial } }',
    );
    writeFile(dir, 'backflow.yaml', text);
    const result = await runCli(['--config', path.join(dir, 'backflow.yaml'), 'validate', '--connect', '--json'], { env });
    expect(result.code).toBe(1);
    expect(JSON.parse(result.stdout).problems).toEqual([{ sync: 'bad', message: 'the query returns no column "emial" (it returns: id, email)' }]);
  });

  it('syncs the users end to end through the CLI, then plans only what changed', async () => {
    writeFile(dir, 'backflow.yaml', usersConfig(warehouse.source));
    const cli = (...args: string[]) => runCli(['--config', path.join(dir, 'backflow.yaml'), ...args], { env });

    const first = await cli('sync');
    expect(first.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(25);
    const byId = (id: string) => emulator.sentBodies.find((body) => body.externalId === id);
    expect(byId('7')).toEqual({
      externalId: '7',
      displayName: 'User 7',
      email: 'user7@example.com',
      country: 'US',
      tags: { plan: 'free', tier: 'gold' },
      metadata: { nickname: 'nick7', balance: 700.5, visits: 70, birthday: '1990-02-08', updatedAt: '2026-01-01T00:00:07.250Z' },
    });
    // NULLs leave the field out; an id past 2^53 arrives exact, as text.
    expect(byId('8')).toEqual({
      externalId: '8',
      displayName: 'User 8',
      email: 'user8@example.com',
      country: 'GB',
      tags: { plan: 'pro', tier: 'silver' },
      metadata: { balance: 800.5, visits: 80, birthday: '1990-02-09', updatedAt: '2026-01-01T00:00:08.250Z' },
    });
    expect(byId('1')?.metadata).toMatchObject({ visits: BIG_VISITS });
    expect(byId('5')?.tags).toEqual({ plan: 'free' });

    const second = await cli('sync');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('unchanged 25');
    expect(emulator.received).toHaveLength(25);

    await warehouse.exec("update users set nickname = 'Neo' where id = 4");
    const plan = await cli('plan', '--json');
    expect(plan.code).toBe(2);
    const document = JSON.parse(plan.stdout);
    expect(document.syncs[0].counts).toMatchObject({ changed: 1, unchanged: 24, added: 0, removed: 0 });
    expect(document.syncs[0].records).toEqual([
      expect.objectContaining({ key: '4', class: 'changed', changes: [{ field: 'metadata.nickname', old: undefined, new: 'Neo' }] }),
    ]);
    expect(emulator.received).toHaveLength(25);
  });

  it('syncs the demo users with the demo config’s own mapping', async () => {
    await warehouse.createTable(
      'demo_users',
      DEMO_COLUMNS,
      Array.from({ length: 25 }, (_, index) => demoUser(index + 1)),
    );
    const demo = fs
      .readFileSync(path.join(REPO, 'demo', 'backflow.yaml'), 'utf8')
      .replace(/ {2}warehouse:\n {4}type: sqlite\n {4}path: \.\/warehouse\.db/, `  warehouse: ${warehouse.source}`)
      .replace('from users', 'from demo_users');
    const space = workspaceFor(demo, dir, { DEMO_GAMIFYHOST_URL: env.GAMIFY_URL, DEMO_GAMIFYHOST_API_KEY: API_KEY });
    expect(space.config.sources.warehouse.type).toBe(fixture.type);

    const summary = await runSync(space, space.config.syncs[0]);
    expect(summary).toMatchObject({ outcome: 'success', counts: { read: 25, sent: 25, invalid: 0 } });
    expect(emulator.sentBodies.find((body) => body.externalId === '7')).toEqual({
      externalId: '7',
      displayName: 'Linus Hopper',
      email: 'linus.hopper7@example.com',
      country: 'US',
      phone: '+15550000007',
      source: 'newsletter',
      tags: { plan: 'enterprise' },
      metadata: { updatedAt: '2026-01-01T00:07:00.000Z', origin: 'warehouse' },
    });
  });
});
