// The CLI as a user runs it: exit codes, status/runs/rejected/reset, saved plans, the per-sync lock,
// and a state file that is damaged or from a newer version.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, sqliteExec, waitUntil, writeFile } from './helpers/index.js';

describe('the backflow CLI', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(6));
    config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
  });

  const cli = (...args: string[]) => runCli(['--config', config, ...args]);

  it('plan exits 2 with changes and 0 without, and never creates the state file', async () => {
    const plan = await cli('plan', '--show', '2');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain('+ 6 added');
    expect(plan.stdout).toContain('… and 4 more to send or remove (use --show N to list more)');
    expect(plan.stdout).toContain('Plan: 6 requests to send.');
    expect(fs.existsSync(path.join(dir, 'state.db'))).toBe(false);
    expect(emulator.received).toHaveLength(0);

    expect((await cli('sync')).code).toBe(0);
    const after = await cli('plan');
    expect(after.code).toBe(0);
    expect(after.stdout).toContain('Plan: nothing to send.');
  });

  it('plan exits 0 when the only findings are invalid records (they send nothing)', async () => {
    await cli('sync');
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set country = 'xx' where id = 1");
    const plan = await cli('plan');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('! 1  invalid: country: must be an ISO 3166-1 alpha-2 code');
  });

  it('status, runs and rejected show what happened; reset makes the next run send everything', async () => {
    emulator.inject(
      { kind: 'status', status: 400, body: { status: 'error', message: 'Invalid request body (phone)' } },
      1,
      (request) => (request.body as { externalId: string }).externalId === '5',
    );
    const sync = await cli('sync');
    expect(sync.code).toBe(3);
    expect(sync.stdout).toContain('✗ 5: HTTP 400: Invalid request body (phone)');

    // The JSON shapes README.md documents ("JSON output"), field for field: camelCase, `full` a
    // boolean, counts an object, and no column of the state's tables (fingerprint, pid) leaking out.
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
    const status = JSON.parse((await cli('status', '--json')).stdout);
    expect(status).toEqual({ syncs: [{ sync: 'users', destination: 'gamify', records: 5, cursor: null, lastRun }] });

    const runs = JSON.parse((await cli('runs', '--json')).stdout);
    expect(runs).toEqual({
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

    const rejected = JSON.parse((await cli('rejected', '--json')).stdout);
    expect(rejected).toEqual({
      rejected: [{ sync: 'users', key: '5', status: 400, reason: 'HTTP 400: Invalid request body (phone)', attempts: 1, firstAt: iso, lastAt: iso, runId: 1 }],
    });
    expect(rejected.rejected[0].lastAt).toBe(rejected.rejected[0].firstAt); // refused once so far
    const table = await cli('rejected');
    expect(table.stdout).toMatch(/users\s+5\s+400\s+1\s+.+?\s+HTTP 400: Invalid request body \(phone\)/);

    const reset = await cli('reset', '--sync', 'users', '--yes');
    expect(reset.stdout).toContain('Forgot 5 records of sync users');
    const plan = JSON.parse((await cli('plan', '--json')).stdout);
    expect(plan.syncs[0].counts).toMatchObject({ added: 6 });
    expect((await cli('sync', '--full')).code).toBe(0);
    expect(JSON.parse((await cli('runs', '--json', '--limit', '1')).stdout).runs[0]).toMatchObject({ outcome: 'success', full: true });
  });

  it('sync --plan sends exactly the saved plan, and refuses it once the state moved on', async () => {
    const saved = path.join(dir, 'users.plan');
    expect((await cli('plan', '--out', saved)).code).toBe(2);
    // A row changed after planning is not part of the saved plan.
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Later' where id = 1");
    const applied = await cli('sync', '--plan', saved);
    expect(applied.code).toBe(0);
    expect(emulator.sentBodies.find((body) => body.externalId === '1')?.displayName).toBe('User 1');
    expect(emulator.received).toHaveLength(6);

    const again = await cli('sync', '--plan', saved);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('the state of sync "users" changed since');
    expect(emulator.received).toHaveLength(6);
  });

  it('refuses a saved plan after the config changed', async () => {
    const saved = path.join(dir, 'users.plan');
    await cli('plan', '--out', saved);
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('displayName: name', 'displayName: email'));
    const result = await cli('sync', '--plan', saved);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('the config changed since');
  });

  it('refuses to run a sync that another process is running, naming it', async () => {
    // The first sync holds the lock while its requests wait on the destination, for as long as the
    // second one takes (the request timeout is long enough that only a hang would end it).
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('timeoutSeconds: 2', 'timeoutSeconds: 300'));
    emulator.hold();
    const slow = spawnCli(['--config', config, 'sync']);
    const closed = new Promise<number | null>((resolve) => slow.on('close', resolve));
    await waitUntil('the first sync to start sending', () => emulator.received.length > 0, emulator);

    const second = await cli('sync');
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/sync "users" is already running \(process \d+ on /);

    emulator.release();
    expect(await closed).toBe(0);
    expect(emulator.received).toHaveLength(6);
  });

  it('refuses a damaged state file without touching it', async () => {
    const state = writeFile(dir, 'state.db', 'this is not a database, it was overwritten by mistake'.repeat(100));
    const before = fs.readFileSync(state);
    const result = await cli('sync');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('is not a valid Backflow state database');
    expect(result.stderr).toContain('It was not changed');
    expect(fs.readFileSync(state).equals(before)).toBe(true);
  });

  it('refuses a state file written by a newer Backflow', async () => {
    await cli('sync');
    const db = new Database(path.join(dir, 'state.db'));
    db.pragma('user_version = 99');
    db.close();
    const result = await cli('status');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('was written by a newer Backflow (schema 99');
  });

  it('explains an unknown sync name', async () => {
    const result = await cli('sync', '--sync', 'nope');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no sync named "nope": expected one of users');
  });
});
