// Every command on a PostgreSQL state (state.url), through the real CLI, as it works on SQLite:
// validate, plan (which creates nothing), sync, status, runs, rejected, reset, unlock and ingest;
// and each bad state.url gives one clear line, never the password it carries.
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, outputLine, runCli, spawnCli, sqliteExec, tempDir, waitUntil, writeFile, type CliResult } from './helpers/index.js';
import { pgAdmin, pgStateSchema } from './helpers/pg-state.js';
import { NO_SYNCS, post, segmentConfig, WRITE_KEY } from './helpers/segment.js';

// The server trusts local users, so this password is never checked: it is there to be hidden.
const PASSWORD = 's3cret-pw';
const STATE_URL = `postgres://postgres:${PASSWORD}@127.0.0.1:5432/test`;
const env = { BACKFLOW_STATE_URL: STATE_URL, SEGMENT_WRITE_KEY: WRITE_KEY };

/** The SQLite state line of the test configs, pointed at a PostgreSQL schema instead. */
const onPg = (config: string, schema: string, state = `url: "\${BACKFLOW_STATE_URL}", schema: ${schema}`) =>
  config.replace('state: { path: ./state.db }', `state: { ${state} }`);

const schemaExists = (schema: string) =>
  pgAdmin(async (client) => (await client.query('select 1 from pg_namespace where nspname = $1', [schema])).rowCount === 1);

const rows = <T>(sql: string, values: unknown[] = []) => pgAdmin(async (client) => (await client.query(sql, values)).rows as T[]);

/** Whatever a command printed carries neither the password nor a stack trace. */
function expectClean(result: CliResult): void {
  expect(`${result.stdout}${result.stderr}`).not.toContain(PASSWORD);
  expect(result.stderr).not.toMatch(/^\s+at /m);
}

describe('every command on a PostgreSQL state', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;
  let schema: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(6));
    schema = pgStateSchema();
    config = writeFile(dir, 'backflow.yaml', onPg(gamifyConfig({ url: emulator.url }), schema));
  });

  async function cli(...args: string[]): Promise<CliResult> {
    const result = await runCli(['--config', config, ...args], { env });
    expectClean(result);
    return result;
  }
  const recordCount = async () => (await rows<{ n: number }>(`select count(*)::int as n from ${schema}.records`))[0].n;

  it('validate and plan create nothing; sync sends every record once; plan then shows exactly what changed', async () => {
    expect(await cli('validate')).toMatchObject({ code: 0, stdout: expect.stringContaining('valid (1 sync)') });
    const plan = await cli('plan');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('+ 6 added');
    expect(plan.stdout).toContain('Plan: 6 requests to send.');
    expect((await cli('status')).code).toBe(0);
    expect((await cli('runs')).code).toBe(0);
    expect(await schemaExists(schema)).toBe(false);
    expect(emulator.received).toHaveLength(0);

    const sync = await cli('sync');
    expect(sync.code).toBe(0);
    expect(emulator.received).toHaveLength(6);
    expect(emulator.profile('3')).toMatchObject({ displayName: 'User 3', email: 'user3@example.com', country: 'NG', tags: { plan: 'free' } });
    expect(await recordCount()).toBe(6);

    expect(await cli('plan')).toMatchObject({ code: 0, stdout: expect.stringContaining('Plan: nothing to send.') });
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.received).toHaveLength(6);

    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Renamed' where id = 2");
    const changed = JSON.parse((await cli('plan', '--json')).stdout) as { syncs: { counts: object }[] };
    expect(changed.syncs[0].counts).toEqual({ added: 0, changed: 1, unchanged: 5, removed: 0, invalid: 0, retry: 0 });
    const text = await cli('plan');
    expect(text.code).toBe(2);
    expect(text.stdout).toContain('~ 1 changed');
    expect(text.stdout).toMatch(/displayName: "User 2" → "Renamed"/);
    expect(text.stdout).toContain('Plan: 1 request to send.');
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.received).toHaveLength(7);
    expect(emulator.profile('2')).toMatchObject({ displayName: 'Renamed' });

    const status = await cli('status');
    expect(status.stdout).toMatch(/users +gamify +6 +(just now|\d+ s ago) +success +sent 1, rejected 0/);
    const runs = JSON.parse((await cli('runs', '--json')).stdout) as { total: number; runs: { id: number; outcome: string; counts: object }[] };
    expect(runs.total).toBe(3);
    expect(runs.runs.map((run) => [run.id, run.outcome])).toEqual([
      [3, 'success'],
      [2, 'success'],
      [1, 'success'],
    ]);
    expect(runs.runs[1].counts).toMatchObject({ sent: 0, unchanged: 6 });
  });

  it('status, runs and rejected show a rejection; reset makes the next run send everything', async () => {
    emulator.inject(
      { kind: 'status', status: 400, body: { status: 'error', message: 'Invalid request body (phone)' } },
      1,
      (request) => (request.body as { externalId: string }).externalId === '5',
    );
    const sync = await cli('sync');
    expect(sync.code).toBe(3);
    expect(sync.stdout).toContain('✗ 5: HTTP 400: Invalid request body (phone)');

    const iso = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const lastRun = {
      id: 1,
      sync: 'users',
      startedAt: iso,
      endedAt: iso,
      outcome: 'partial',
      full: false,
      counts: expect.objectContaining({ read: 6, sent: 5, rejected: 1 }),
      error: null,
    };
    expect(JSON.parse((await cli('status', '--json')).stdout)).toEqual({
      syncs: [{ sync: 'users', destination: 'gamify', records: 5, cursor: null, lastRun }],
      // A fleet's state also lists its members: no daemon runs here.
      members: [],
    });
    expect((await cli('status')).stdout).toMatch(/users +gamify +5 +(just now|\d+ s ago) +partial +sent 5, rejected 1/);
    expect(JSON.parse((await cli('runs', '--json')).stdout)).toEqual({
      total: 1,
      offset: 0,
      runs: [
        {
          ...lastRun,
          issueCount: 1,
          issuesOffset: 0,
          issues: [{ key: '5', class: 'rejected', status: 400, reason: 'HTTP 400: Invalid request body (phone)' }],
        },
      ],
    });
    expect(JSON.parse((await cli('rejected', '--json')).stdout)).toEqual({
      rejected: [{ sync: 'users', key: '5', status: 400, reason: 'HTTP 400: Invalid request body (phone)', attempts: 1, firstAt: iso, lastAt: iso, runId: 1 }],
    });
    expect((await cli('rejected')).stdout).toMatch(/users\s+5\s+400\s+1\s+.+?\s+HTTP 400: Invalid request body \(phone\)/);

    const refused = await cli('reset', '--sync', 'users');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('reset forgets the 5 records sync users has sent, its rejections and its cursor: confirm with --yes');
    const reset = await cli('reset', '--sync', 'users', '--yes');
    expect(reset).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Forgot 5 records of sync users \(run 2\)/) });
    expect(await recordCount()).toBe(0);
    expect((await cli('rejected')).stdout).toContain('No rejected records.');
    expect(JSON.parse((await cli('plan', '--json')).stdout).syncs[0].counts).toMatchObject({ added: 6 });
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.received).toHaveLength(12);
    expect(JSON.parse((await cli('runs', '--json', '--limit', '2')).stdout).runs).toMatchObject([
      { id: 3, outcome: 'success', counts: { sent: 6 } },
      { id: 2, outcome: 'reset', counts: { forgotten: 5 } },
    ]);
  });

  it('a second sync is refused while one runs; unlock refuses a live holder, and removes the lock of one killed', async () => {
    // Held answers keep the first sync running (and holding its lock) for as long as the test needs.
    writeFile(dir, 'backflow.yaml', onPg(gamifyConfig({ url: emulator.url }), schema).replace('timeoutSeconds: 2', 'timeoutSeconds: 300'));
    emulator.hold();
    const slow = spawnCli(['--config', config, 'sync'], { env });
    const closed = once(slow, 'close');
    await waitUntil('the first sync to start sending', () => emulator.received.length > 0, emulator);

    const second = await cli('sync');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(new RegExp(`^error: sync "users" is already running \\(process ${slow.pid} on `));
    const live = await cli('unlock', '--sync', 'users');
    expect(live.code).toBe(1);
    expect(live.stderr).toContain(`sync "users" is locked by a live holder (process ${slow.pid} on `);

    slow.kill('SIGKILL');
    await closed;
    // PostgreSQL frees the advisory lock once it has seen the connection close.
    await waitUntil('the killed sync to leave the server', async () => {
      const [{ n }] = await rows<{ n: number }>(`select count(*)::int as n from pg_stat_activity where pid in (select backend_pid from ${schema}.locks)`);
      return n === 0;
    });
    const unlocked = await cli('unlock', '--sync', 'users');
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).toContain(`Removed the lock of sync users: process ${slow.pid} on `);
    expect(unlocked.stdout).toContain('is gone (its connection to the state database closed)');
    expect(await rows(`select * from ${schema}.locks`)).toEqual([]);
    expect((await cli('unlock', '--sync', 'users')).stdout).toContain('Sync users is not locked: nothing to do.');

    emulator.release();
    expect((await cli('sync')).code).toBe(0);
    expect(JSON.parse((await cli('runs', '--json')).stdout).runs).toMatchObject([
      { id: 2, outcome: 'success' },
      { id: 1, outcome: 'interrupted', error: expect.stringContaining('unlocked: process') },
    ]);
    // Every user arrived; those the killed run had not confirmed were sent again, nothing more.
    for (const id of ['1', '2', '3', '4', '5', '6']) expect(emulator.profile(id)).toMatchObject({ displayName: `User ${id}` });
  });
});

describe('backflow ingest on a PostgreSQL state', () => {
  it('stores events that a sync then sends, its cursor kept in the state', async () => {
    const dir = tempDir();
    const schema = pgStateSchema();
    const emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
    await emulator.start();
    const file = segmentConfig(dir, NO_SYNCS.replace('pk_test_unused', 'pk_test_secret_key_123').replace('http://127.0.0.1:9', emulator.url));
    writeFile(dir, 'backflow.yaml', onPg(fs.readFileSync(file, 'utf8'), schema));
    try {
      const ingest = spawnCli(['--config', file, 'ingest'], { env });
      const exited = once(ingest, 'exit');
      const [, url] = await outputLine(ingest, /listening on (http:\/\/\S+)/, 'backflow ingest to listen');
      for (const userId of ['u1', 'u2']) expect((await post(url, '/v1/identify', { userId, traits: { plan: 'pro' } })).status).toBe(200);
      ingest.kill('SIGTERM');
      expect((await exited)[0]).toBe(0);

      const sync = await runCli(['--config', file, 'sync'], { env });
      expectClean(sync);
      expect(sync.code).toBe(0);
      expect(emulator.received.map((request) => (request.body as { externalId: string }).externalId).sort()).toEqual(['u1', 'u2']);
      expect(await rows(`select sync from ${schema}.cursors`)).toEqual([{ sync: 'users' }]);
      expect((await runCli(['--config', file, 'sync'], { env })).code).toBe(0);
      expect(emulator.received).toHaveLength(2);
    } finally {
      await emulator.stop();
    }
  });
});

describe('a bad state.url gives one clear line', () => {
  let dir: string;
  let schema: string;

  beforeEach(async () => {
    ({ dir } = await gamifyWarehouse(2));
    schema = pgStateSchema();
  });

  /** Runs `command` with `state` as the config's state block; expects exit 1 and one line on stderr. */
  async function refused(state: string, command: string[], environment: NodeJS.ProcessEnv = env): Promise<string> {
    const config = writeFile(dir, 'backflow.yaml', onPg(gamifyConfig({ url: 'http://127.0.0.1:9' }), schema, state));
    const result = await runCli(['--config', config, ...command], { env: environment });
    expectClean(result);
    expect(result.code).toBe(1);
    expect(result.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    return result.stderr.trimEnd();
  }
  const url = (text: string) => `url: "${text}"`;

  it('not a PostgreSQL URL, or both state.path and state.url: a config error at its line', async () => {
    const wanted = 'state.url: expected a PostgreSQL URL: postgres://user:password@host:5432/database';
    expect(await refused(url(`mysql://postgres:${PASSWORD}@127.0.0.1/test`), ['validate'])).toBe(`${path.join(dir, 'backflow.yaml')}:2:15: ${wanted}`);
    expect(await refused(url(`not a url ${PASSWORD}`), ['sync'])).toBe(`${path.join(dir, 'backflow.yaml')}:2:15: ${wanted}`);
    expect(await refused(`path: ./state.db, ${url(STATE_URL)}`, ['status'])).toBe(
      `${path.join(dir, 'backflow.yaml')}:2:33: state.url: set state.path (a SQLite file) or state.url (PostgreSQL), not both`,
    );
    expect(await refused('url: "${BACKFLOW_STATE_URL}"', ['plan'], {})).toBe(
      `${path.join(dir, 'backflow.yaml')}:2:16: state.url: environment variable BACKFLOW_STATE_URL is not set: export it, or give a default with \${BACKFLOW_STATE_URL:-value}`,
    );
    expect(await refused(`${url(STATE_URL)}, schema: pg_catalog`, ['status'])).toMatch(
      /:2:\d+: state\.schema: PostgreSQL keeps pg_\* and information_schema for itself: choose another name$/,
    );
  });

  it('an unreachable server, a role or a database that does not exist: what, where, and what to change', async () => {
    expect(await refused(url(`postgres://postgres:${PASSWORD}@127.0.0.1:1/test`), ['sync'])).toBe(
      'error: cannot reach the state database at 127.0.0.1:1 (ECONNREFUSED): check that PostgreSQL is running there and that state.url names it',
    );
    expect(await refused(url(`postgres://no_such_role:${PASSWORD}@127.0.0.1:5432/test`), ['status'])).toBe(
      'error: the state database at 127.0.0.1:5432 refused user "no_such_role" (role "no_such_role" does not exist): check the user and password in state.url',
    );
    expect(await refused(url(`postgres://postgres:${PASSWORD}@127.0.0.1:5432/no_such_db`), ['plan'])).toBe(
      'error: database "no_such_db" does not exist on 127.0.0.1:5432: create it (createdb no_such_db) or point state.url at another',
    );
  });

  it('a schema holding tables of its own, or written by a newer Backflow, is refused by every command and left as it was', async () => {
    await pgAdmin((client) => client.query(`create schema ${schema}; create table ${schema}.orders (id int); create table ${schema}.customers (id int)`));
    for (const command of [['sync'], ['status'], ['plan']]) {
      expect(await refused(url(STATE_URL) + `, schema: ${schema}`, command)).toBe(
        `error: schema "${schema}" in postgres://postgres@127.0.0.1:5432/test holds tables that are not Backflow's (customers, orders): set state.schema to a schema of Backflow's own (a new name is created on the first sync)`,
      );
    }
    expect((await rows<{ table_name: string }>(`select table_name from information_schema.tables where table_schema = $1`, [schema])).length).toBe(2);

    await pgAdmin((client) => client.query(`drop schema ${schema} cascade`));
    const config = writeFile(dir, 'backflow.yaml', onPg(gamifyConfig({ url: 'http://127.0.0.1:9' }), schema));
    await runCli(['--config', config, 'reset', '--sync', 'users', '--yes'], { env }); // migrates the schema
    await pgAdmin((client) => client.query(`update ${schema}.meta set version = 99`));
    for (const command of [['sync'], ['status'], ['runs'], ['reset', '--sync', 'users', '--yes']]) {
      expect(await refused(url(STATE_URL) + `, schema: ${schema}`, command)).toBe(
        `error: the state in postgres://postgres@127.0.0.1:5432/test (schema ${schema}) was written by a newer Backflow (schema 99, this one knows 1): upgrade Backflow`,
      );
    }
  });

  it('a read-only command leaves a schema created empty by hand empty', async () => {
    await pgAdmin((client) => client.query(`create schema ${schema}`));
    const config = writeFile(dir, 'backflow.yaml', onPg(gamifyConfig({ url: 'http://127.0.0.1:9' }), schema));
    for (const command of ['status', 'runs', 'rejected']) expect((await runCli(['--config', config, command], { env })).code).toBe(0);
    expect(await rows(`select table_name from information_schema.tables where table_schema = $1`, [schema])).toEqual([]);
  });
});
