// `backflow state copy` through the real CLI: a SQLite state moved into PostgreSQL and back, row for
// row, so the copy re-sends nothing; and the refusals (a non-empty target, a running sync, an
// unreachable server), each one clear line with no password in it.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { COPIED_COLUMNS, COPIED_TABLES } from '../src/state/copy-tables.js';
import { StateStore } from '../src/state/store.js';
import { PgStateStore } from '../src/state/pg/store.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, sqliteRows, waitUntil, writeFile } from './helpers/index.js';
import { PG_STATE_URL, pgAdmin, pgStateSchema } from './helpers/pg-state.js';

// The test server trusts its clients and ignores the password: it is here to be kept out of every output.
const TARGET_URL = PG_STATE_URL.replace('postgres@', 'postgres:copy-pw-42@');

type Rows = Record<string, unknown>[];
type Tables = Record<string, Rows>;

/** Every copied table as rows in key order (run issues in the order they were recorded). */
function order(table: string, insertion: string): string {
  return table === 'run_issues' ? insertion : table === 'runs' ? 'id' : table === 'pending_records' ? 'sync, key, fingerprint' : 'sync';
}

function sqliteTables(file: string): Tables {
  return Object.fromEntries(
    COPIED_TABLES.map((table) => {
      const by = ['records', 'rejections'].includes(table) ? 'sync, key' : order(table, 'rowid');
      return [table, sqliteRows(file, `select ${COPIED_COLUMNS[table].map((c) => `"${c}"`).join(', ')} from ${table} order by ${by}`)];
    }),
  );
}

async function pgTables(schema: string): Promise<Tables> {
  return pgAdmin(async (client) => {
    const tables: Tables = {};
    for (const table of COPIED_TABLES) {
      const by = ['records', 'rejections'].includes(table) ? 'sync, key' : order(table, 'seq');
      tables[table] = (await client.query(`select ${COPIED_COLUMNS[table].map((c) => `"${c}"`).join(', ')} from ${schema}.${table} order by ${by}`))
        .rows as Rows;
    }
    return tables;
  });
}

function counts(tables: Tables): Record<string, number> {
  return Object.fromEntries(Object.entries(tables).map(([table, rows]) => [table, rows.length]));
}

/** A config with a full sync (`users`) and an incremental one (`recent`, with a cursor), on the given state. */
function config(url: string, state: string): string {
  return gamifyConfig({ url }).replace('state: { path: ./state.db }', `state: ${state}`) + RECENT;
}

const RECENT = `  - name: recent
    source: warehouse
    query: select * from users
    primaryKey: id
    cursor: updated_at
    destination: gamify
    mapping:
      externalId: id
      email: email
`;

/** A folder with 20 users synced (both syncs) on a SQLite state; user 5 was rejected once by `users`. */
async function syncedOnSqlite() {
  const { dir, emulator } = await gamifyWarehouse(20);
  const configFile = writeFile(dir, 'backflow.yaml', config(emulator.url, '{ path: ./state.db }'));
  const cli = (...args: string[]) => runCli(['--config', configFile, ...args], { cwd: dir });
  emulator.inject({ kind: 'status', status: 400, body: { status: 'error', message: 'Invalid request body (blocked user)' } }, 1, (request) => {
    return (request.body as { externalId?: string }).externalId === '5';
  });
  const sync = await cli('sync');
  expect(sync.code, sync.stderr).toBe(3);
  return { dir, emulator, configFile, cli, state: path.join(dir, 'state.db') };
}

describe('backflow state copy', () => {
  it('copies every state table of both engines, column for column', () => {
    const dir = fs.mkdtempSync(path.join(process.env.TMPDIR ?? '/tmp', 'backflow-columns-'));
    StateStore.open(path.join(dir, 'state.db')).close();
    const db = new Database(path.join(dir, 'state.db'), { readonly: true });
    for (const table of COPIED_TABLES) {
      const columns = (db.pragma(`table_info(${table})`) as { name: string }[]).map((column) => column.name);
      expect(columns.sort(), table).toEqual([...COPIED_COLUMNS[table]].sort());
    }
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('has the same columns in the PostgreSQL state (run_issues.seq aside)', async () => {
    const schema = pgStateSchema();
    PgStateStore.open({ url: PG_STATE_URL, schema }).close();
    await pgAdmin(async (client) => {
      for (const table of COPIED_TABLES) {
        const { rows } = await client.query('select column_name from information_schema.columns where table_schema = $1 and table_name = $2', [schema, table]);
        const columns = rows.map((row: { column_name: string }) => row.column_name).filter((name) => !(table === 'run_issues' && name === 'seq'));
        expect(columns.sort(), table).toEqual([...COPIED_COLUMNS[table]].sort());
      }
    });
  });

  it('moves a SQLite state into PostgreSQL and back: the same rows, and nothing sent again', async () => {
    const { dir, emulator, cli, state } = await syncedOnSqlite();
    const source = sqliteTables(state);
    expect(counts(source)).toMatchObject({ runs: 2, run_issues: 1, records: 39, rejections: 1, cursors: 1, generations: 2, mappings: 2 });
    const runsBefore = JSON.parse((await cli('runs', '--json')).stdout).runs.map((run: { id: number }) => run.id);

    // SQLite → PostgreSQL
    const schema = pgStateSchema();
    const copy = await cli('state', 'copy', '--to', TARGET_URL, '--schema', schema);
    expect(copy.code, copy.stderr).toBe(0);
    expect(copy.stdout + copy.stderr).not.toContain('copy-pw-42');
    expect(copy.stdout).toContain(`Copied the state of ${state} into ${PG_STATE_URL} (schema ${schema})`);
    expect(copy.stdout).toMatch(/records\s+39/);
    expect(copy.stdout).toContain(`state.url: ${PG_STATE_URL}`);
    expect(await pgTables(schema)).toEqual(source);

    const pgConfig = writeFile(dir, 'pg.yaml', config(emulator.url, `{ url: "${TARGET_URL}", schema: ${schema} }`));
    const onPg = (...args: string[]) => runCli(['--config', pgConfig, ...args], { cwd: dir });
    expect(JSON.parse((await onPg('runs', '--json')).stdout).runs.map((run: { id: number }) => run.id)).toEqual(runsBefore);
    const plan = await onPg('plan', '--json');
    const planned = JSON.parse(plan.stdout) as { syncs: { sync: string; counts: Record<string, number> }[] };
    // Only the record the vendor refused is due: as a retry (its rejection came along), not as new.
    expect(planned.syncs.map((plan) => [plan.sync, plan.counts])).toEqual([
      ['users', expect.objectContaining({ added: 0, changed: 0, retry: 1, unchanged: 19 })],
      ['recent', expect.objectContaining({ added: 0, changed: 0, retry: 0 })],
    ]);
    const requests = emulator.received.length;
    const sync = await onPg('sync', '--json');
    expect(sync.code, sync.stderr).toBe(0);
    expect(emulator.sentBodies.slice(requests).map((body) => body.externalId)).toEqual(['5']);
    // The identity was moved past the copied runs: the next run numbers on from them.
    const newRuns = JSON.parse((await onPg('runs', '--json')).stdout).runs.map((run: { id: number }) => run.id);
    expect(newRuns.slice(-runsBefore.length)).toEqual(runsBefore);
    expect(Math.min(...newRuns.slice(0, newRuns.length - runsBefore.length))).toBeGreaterThan(Math.max(...runsBefore));

    // PostgreSQL → a new SQLite file
    const pgNow = await pgTables(schema);
    const back = await onPg('--json', 'state', 'copy', '--to', 'back/state.db');
    expect(back.code, back.stderr).toBe(0);
    expect(back.stdout + back.stderr).not.toContain('copy-pw-42');
    const copied = JSON.parse(back.stdout) as { from: string; to: string; copied: Record<string, number> };
    expect(copied).toEqual({ from: `${PG_STATE_URL} (schema ${schema})`, to: path.join(dir, 'back/state.db'), copied: counts(pgNow) });
    expect(sqliteTables(path.join(dir, 'back/state.db'))).toEqual(pgNow);

    const backConfig = writeFile(dir, 'back.yaml', config(emulator.url, '{ path: ./back/state.db }'));
    const onBack = (...args: string[]) => runCli(['--config', backConfig, ...args], { cwd: dir });
    expect(JSON.parse((await onBack('runs', '--json')).stdout).runs.map((run: { id: number }) => run.id)).toEqual(newRuns);
    const again = await onBack('plan');
    expect(again.code, again.stdout).toBe(0);
    const before = emulator.received.length;
    expect((await onBack('sync')).code).toBe(0);
    expect(emulator.received.length).toBe(before);
  });

  it('refuses a target that already holds state, and leaves it as it was', async () => {
    const { cli, dir, state } = await syncedOnSqlite();
    const schema = pgStateSchema();
    expect((await cli('state', 'copy', '--to', TARGET_URL, '--schema', schema)).code).toBe(0);
    const target = await pgTables(schema);

    const again = await cli('state', 'copy', '--to', TARGET_URL, '--schema', schema);
    expect(again.code).toBe(1);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain(`error: the target ${PG_STATE_URL} (schema ${schema}) already holds Backflow state (rows in runs, run_issues, records`);
    expect(again.stdout).toBe('');
    expect(await pgTables(schema)).toEqual(target);

    // A SQLite file that holds state, the same.
    fs.copyFileSync(state, path.join(dir, 'other.db'));
    const file = await cli('state', 'copy', '--to', 'other.db');
    expect(file.code).toBe(1);
    expect(file.stderr).toContain('already holds Backflow state');
    expect(sqliteTables(path.join(dir, 'other.db'))).toEqual(sqliteTables(state));

    // Its own state is no target.
    const self = await cli('state', 'copy', '--to', 'state.db');
    expect(self.code).toBe(1);
    expect(self.stderr).toContain("is the config's own state");
  });

  it('refuses while a sync of the source is running, naming it', async () => {
    const { emulator, configFile, dir, state } = await syncedOnSqlite();
    emulator.hold();
    const running = spawnCli(['--config', configFile, 'sync', '--sync', 'users', '--full'], { cwd: dir });
    await waitUntil('the run holds its lock', () => sqliteRows(state, "select 1 from locks where sync = 'users'").length === 1);

    const copy = await runCli(['--config', configFile, 'state', 'copy', '--to', 'copy.db'], { cwd: dir });
    expect(copy.code).toBe(1);
    expect(copy.stderr).toMatch(
      new RegExp(`cannot copy the state while a sync is running \\(sync "users": process ${running.pid} on .*\\): .*Stop the daemon`),
    );
    expect(fs.existsSync(path.join(dir, 'copy.db'))).toBe(false);
    emulator.release();
  });

  it('refuses while a sync of a PostgreSQL source is running (its connection holds the lock)', async () => {
    const { emulator, cli, dir } = await syncedOnSqlite();
    const schema = pgStateSchema();
    expect((await cli('state', 'copy', '--to', TARGET_URL, '--schema', schema)).code).toBe(0);
    const pgConfig = writeFile(dir, 'pg.yaml', config(emulator.url, `{ url: "${TARGET_URL}", schema: ${schema} }`));
    emulator.hold();
    const running = spawnCli(['--config', pgConfig, 'sync', '--sync', 'users', '--full'], { cwd: dir });
    await waitUntil('the run holds its lock', () =>
      pgAdmin(async (client) => (await client.query(`select 1 from ${schema}.locks where sync = 'users'`)).rowCount === 1),
    );

    const copy = await runCli(['--config', pgConfig, 'state', 'copy', '--to', 'copy.db'], { cwd: dir });
    expect(copy.code).toBe(1);
    expect(copy.stderr).toMatch(
      new RegExp(`cannot copy the state while a sync is running \\(sync "users": process ${running.pid} on .*\\): .*Stop the daemon`),
    );
    expect(copy.stdout + copy.stderr).not.toContain('copy-pw-42');
    expect(fs.existsSync(path.join(dir, 'copy.db'))).toBe(false);
    emulator.release();
  });

  it('says in one line, without the password, that the target server cannot be reached', async () => {
    const { cli } = await syncedOnSqlite();
    const said = 'cannot reach the state database at 127.0.0.1:1 (ECONNREFUSED): check that PostgreSQL is running there and that --to names it';
    const copy = await cli('state', 'copy', '--to', 'postgres://postgres:s3cret-pw@127.0.0.1:1/test');
    expect(copy.code).toBe(1);
    expect(copy.stdout + copy.stderr).not.toContain('s3cret-pw');
    expect(copy.stdout).toBe('');
    expect(copy.stderr).toBe(`error: ${said}\n`);

    const json = await cli('--json', 'state', 'copy', '--to', 'postgres://postgres:s3cret-pw@127.0.0.1:1/test');
    expect(json.code).toBe(1);
    expect(json.stdout + json.stderr).not.toContain('s3cret-pw');
    expect(JSON.parse(json.stdout)).toEqual({ error: said });
  });
});
