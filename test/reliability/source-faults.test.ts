// Source faults: the PostgreSQL connection dropped mid-stream, a query that fails halfway, a column
// that disappears from the warehouse, and a primary key that is null or duplicated. Each ends with
// a clear message; what was confirmed stays committed, nothing is sent twice, and the next run
// finishes the job.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSync } from '../../src/engine/sync.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, sqliteExec, sqliteTable, users, waitUntil, workspaceFor, writeFile } from '../helpers/index.js';
import { POSTGRES_URL } from '../sources/fixtures.js';

// Enough rows that the reader (two batches ahead of the engine) is still reading when the fault comes.
const RECORDS = 100;

let dir: string;
let emulator: GamifyHostEmulator;

// The PostgreSQL tests read their own schema; the SQLite ones read this warehouse (or replace it).
beforeEach(async () => ({ dir, emulator } = await gamifyWarehouse(5)));

const sentKeys = () => emulator.sentBodies.map((body) => String(body.externalId));

describe('a PostgreSQL source that fails mid-stream', () => {
  let admin: pg.Client;
  let schema: string;

  beforeEach(async () => {
    schema = `bf_${randomBytes(5).toString('hex')}`;
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    await admin.query(`create table ${schema}.users (id bigint primary key, name text, email text, country text, plan text)`);
    await admin.query(
      `insert into ${schema}.users select i, 'User ' || i, 'user' || i || '@example.com', (array['ng','us','gb'])[i % 3 + 1], 'free' from generate_series(1, ${RECORDS}) as i`,
    );
  });
  afterEach(async () => {
    await admin.query(`drop schema ${schema} cascade`);
    await admin.end();
  });

  const configFor = (query: string) =>
    writeFile(
      dir,
      'backflow.yaml',
      gamifyConfig({ url: emulator.url, source: `{ type: postgres, url: "${POSTGRES_URL}" }`, query: JSON.stringify(query), syncExtra: '    batchSize: 10' }),
    );

  /** The committed keys, read through the CLI's status as a user would. */
  const committedCount = async (config: string) => JSON.parse((await runCli(['--config', config, 'status', '--json'])).stdout).syncs[0].records as number;

  it('ends the run with the server’s reason when the connection is dropped between batches; the rerun sends only the rest', async () => {
    const config = configFor(`select * from ${schema}.users order by id`);
    // While the engine delivers the second batch, the source's connection sits idle in its
    // transaction: that is when the server goes away. Answers are held until it is gone.
    const terminated = new Promise<number>((resolve) => {
      emulator.onRequest = () => {
        if (emulator.received.length !== 15) return;
        emulator.onRequest = undefined;
        emulator.hold();
        void admin
          .query(`select pg_terminate_backend(pid) from pg_stat_activity where query like '%${schema}.users order by id%' and pid <> pg_backend_pid()`)
          .then((result) => {
            emulator.release();
            resolve(result.rowCount ?? 0);
          });
      };
    });
    const child = spawnCli(['--config', config, 'sync']);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(await terminated).toBe(1);

    expect(code).toBe(1);
    expect(stdout).toContain('Sync users: failed');
    expect(stdout).toMatch(/\n {2}source "warehouse" \(postgres\): the connection to the server was lost during the read \([^)]+\)\n/);
    expect(stderr).not.toMatch(/\n\s+at /); // a message, not a crash's stack trace
    const firstRun = sentKeys();
    expect(firstRun.length).toBeLessThan(RECORDS);
    const committed = await committedCount(config);
    expect(committed).toBe(firstRun.length);

    const rerun = await runCli(['--config', config, 'sync']);
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`sent ${RECORDS - committed}  rejected 0  failed 0  unchanged ${committed}`);
    expect(new Set(sentKeys()).size).toBe(RECORDS);
    expect(sentKeys()).toHaveLength(RECORDS);
  });

  it('ends the run the same way when the connection is dropped while a fetch is running', async () => {
    // Row 25 makes the fetch of the third batch sleep: the server ends the session during it.
    const config = configFor(`select *, pg_sleep(case when id = 25 then 30 else 0 end) as pause from ${schema}.users order by id`);
    const child = spawnCli(['--config', config, 'sync']);
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // The moment the server shows the fetch sleeping on row 25, its session is ended.
    const terminated = await waitUntil('the fetch of the third batch to sleep on row 25', async () => {
      if (child.exitCode !== null) throw new Error(`the sync exited (${child.exitCode}) before its fetch slept: ${stdout}`);
      const result = await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity where wait_event = 'PgSleep' and query like '%${schema}.users order by id%' and pid <> pg_backend_pid()`,
      );
      return result.rowCount || undefined;
    });
    expect(terminated).toBe(1);
    expect(await closed).toBe(1);
    expect(stdout).toMatch(/\n {2}source "warehouse" \(postgres\): the connection to the server was lost during the read \([^)]+\)\n/);
    expect(sentKeys().sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 20 }, (_, index) => String(index + 1)));
    expect(await committedCount(config)).toBe(20);
  });

  it('keeps what was confirmed when the query fails halfway, and says where the error came from', async () => {
    // Row 25 divides by zero: PostgreSQL fails the fetch of the third batch of ten (a plain scan
    // computes each row as it is fetched).
    const config = configFor(`select *, 100 / (id - 25) as ratio from ${schema}.users`);
    const result = await runCli(['--config', config, 'sync']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('Sync users: failed');
    expect(result.stdout).toContain('  source "warehouse" (postgres): division by zero');
    expect(sentKeys().sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 20 }, (_, index) => String(index + 1)));
    expect(await committedCount(config)).toBe(20);
    // No record was taken as removed, and nothing confirmed is sent again once the query is fixed.
    const fixed = configFor(`select * from ${schema}.users order by id`);
    const rerun = await runCli(['--config', fixed, 'sync']);
    expect(rerun.stdout).toContain(`sent ${RECORDS - 20}  rejected 0  failed 0  unchanged 20  invalid 0  removed 0`);
    expect(sentKeys()).toHaveLength(RECORDS);
  });
});

describe('a column that disappears from the warehouse', () => {
  it('stops the run before anything is sent, naming the column and what reads it', async () => {
    const workspace = workspaceFor(gamifyConfig({ url: emulator.url }), dir);
    expect((await runSync(workspace, workspace.syncNamed('users'))).counts.sent).toBe(5);
    sqliteExec(path.join(dir, 'warehouse.db'), "alter table users rename column email to email_address; update users set name = name || '!'");

    const run = await runSync(workspace, workspace.syncNamed('users'));
    expect(run.outcome).toBe('failed');
    expect(run.error).toBe(
      'sync "users": the source returned no column "email" (read by the mapping); it returned id, name, email_address, country, plan, updated_at. ' +
        'Was it dropped or renamed? Fix the query or the mapping; nothing was sent.',
    );
    expect(emulator.received).toHaveLength(5);
    // The state still holds each record's email: nothing was overwritten with a stripped payload.
    const stored = workspace.state.confirmedPayloads('users', ['1']).get('1')!;
    expect(JSON.parse(stored)).toMatchObject({ email: 'user1@example.com' });
  });

  it('names a missing primary key column in plan too', async () => {
    sqliteExec(path.join(dir, 'warehouse.db'), 'alter table users rename column id to user_id');
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
    const plan = await runCli(['--config', config, 'plan']);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain('error: sync "users": the source returned no column "id" (read by the primaryKey); it returned user_id, name,');
  });
});

describe('a primary key that is null or duplicated', () => {
  it('sends the first row of a duplicated key once, names the key, and never sends a null key', async () => {
    const rows = [...users(25), { ...users(1, 7)[0], name: 'Second row for 7' }, { ...users(1, 30)[0], id: null }, { ...users(1, 12)[0], name: 'Another 12' }];
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', rows);
    // Batches of 10: the duplicates of 7 and 12 arrive batches after their first rows.
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url, syncExtra: '    batchSize: 10' }));
    const result = await runCli(['--config', config, 'sync']);

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('read 28  sent 25  rejected 0  failed 0  unchanged 0  invalid 3  removed 0');
    // Both duplicates share one line (grouped by reason), naming their keys.
    expect(result.stdout).toContain(
      '  ! 2 × invalid, not sent: duplicate primary key: the query returned a key more than once; only the first row is used; e.g. 7, 12\n',
    );
    expect(result.stdout).toContain('  ! (null): invalid, not sent: primary key column "id" is null or missing in this row\n');
    expect(sentKeys().filter((key) => key === '7')).toHaveLength(1);
    expect(emulator.profile('7')?.displayName).toBe('User 7');
    expect(emulator.profile('12')?.displayName).toBe('User 12');
    expect(sentKeys()).toHaveLength(25);

    // The next run sends nothing again: the first rows are confirmed, the duplicates still invalid.
    const again = await runCli(['--config', config, 'sync']);
    expect(again.stdout).toContain('sent 0  rejected 0  failed 0  unchanged 25  invalid 3');
    expect(sentKeys()).toHaveLength(25);
  });
});
