// Sync locks across hosts, as a user meets them: a holder's heartbeat keeps its lock, a lock whose
// heartbeat expired is taken over by the next sync, and `backflow unlock` clears a lock whose holder
// is gone but refuses a live one unless --force.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { MIGRATIONS } from '../src/state/migrations.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, sqliteExec, sqliteRows, waitUntil, writeFile } from './helpers/index.js';

interface LockRow {
  pid: number;
  host: string;
  acquired_at: string;
  heartbeat_at: string | null;
}

describe('sync locks held by another host', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;
  let state: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(6));
    config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
    state = path.join(dir, 'state.db');
  });

  const cli = (...args: string[]) => runCli(['--config', config, ...args]);
  const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
  /** A lock (and its unfinished run) as a process on another machine leaves them. */
  const lockFromElsewhere = (heartbeatAt: string) =>
    sqliteExec(
      state,
      `insert into runs (sync, started_at, pid) values ('users', '${ago(3_600_000)}', 4242);
       insert or replace into locks (sync, pid, host, run_id, acquired_at, heartbeat_at, token)
       values ('users', 4242, 'old-container-7f3a', null, '${ago(3_600_000)}', '${heartbeatAt}', 'their-token');`,
    );
  const locks = () => sqliteRows<LockRow>(state, 'select pid, host, acquired_at, heartbeat_at from locks');
  const lastRuns = () => sqliteRows<{ outcome: string; error: string | null; pid: number }>(state, 'select outcome, error, pid from runs order by id');

  it('sync takes over a lock whose heartbeat is older than the expiry, and records that run as interrupted', async () => {
    expect((await cli('sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed' where id = 1");
    lockFromElsewhere(ago(45_000));

    const takeover = await cli('sync');
    expect(takeover.code).toBe(0);
    expect(emulator.received).toHaveLength(7);
    const [, abandoned, rerun] = lastRuns();
    expect(abandoned.pid).toBe(4242);
    expect(abandoned.outcome).toBe('interrupted');
    expect(abandoned.error).toMatch(/^taken over: process 4242 on old-container-7f3a stopped heartbeating \(last at .+, over 30 s ago\)$/);
    expect(rerun.outcome).toBe('success');
    expect(locks()).toEqual([]);
  });

  it('sync refuses a lock with a fresh heartbeat, naming the holder and backflow unlock', async () => {
    expect((await cli('sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed' where id = 1");
    const beat = ago(2_000);
    lockFromElsewhere(beat);

    const refused = await cli('sync');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`error: sync "users" is already running (process 4242 on old-container-7f3a, since `);
    expect(refused.stderr).toContain(`last heartbeat ${beat}). Wait for it to finish`);
    expect(refused.stderr).toContain('taken over 30 s after its last heartbeat. If you know that process is gone, run: backflow unlock --sync users');
    expect(emulator.received).toHaveLength(6);
    // reset is refused the same way: it would forget records under a running sync.
    const reset = await cli('reset', '--sync', 'users', '--yes');
    expect(reset.code).toBe(1);
    expect(reset.stderr).toContain('backflow unlock --sync users');
  });

  it('unlock refuses a live holder and says why; --force removes it, and the next sync runs', async () => {
    expect((await cli('sync')).code).toBe(0);
    const beat = ago(1_000);
    lockFromElsewhere(beat);

    const refused = await cli('unlock', '--sync', 'users');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `error: sync "users" is locked by a live holder (process 4242 on old-container-7f3a, since ${locks()[0].acquired_at}, last heartbeat ${beat}), so it was not unlocked.`,
    );
    expect(refused.stderr).toContain('pass --force only if you know it is gone');
    expect(locks()).toHaveLength(1);
    const acquiredAt = locks()[0].acquired_at;

    const forced = await cli('unlock', '--sync', 'users', '--force', '--json');
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout)).toEqual({
      sync: 'users',
      removed: true,
      holder: { pid: 4242, host: 'old-container-7f3a', acquiredAt, heartbeatAt: beat },
      why: expect.stringContaining('unlocked with --force while process 4242'),
    });
    expect(locks()).toEqual([]);
    expect(lastRuns()[1]).toMatchObject({ outcome: 'interrupted', error: expect.stringContaining('unlocked: unlocked with --force while process 4242') });

    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed' where id = 1");
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.received).toHaveLength(7);
  });

  it('unlock removes a lock whose heartbeat expired without --force, and says when there is none', async () => {
    expect((await cli('sync')).code).toBe(0);
    lockFromElsewhere(ago(120_000));
    const unlocked = await cli('unlock', '--sync', 'users');
    expect(unlocked.code).toBe(0);
    expect(unlocked.stdout).toMatch(/^Removed the lock of sync users: process 4242 on old-container-7f3a stopped heartbeating \(last at .+\)\. /);
    expect(locks()).toEqual([]);

    const again = await cli('unlock', '--sync', 'users');
    expect(again.code).toBe(0);
    expect(again.stdout).toBe('Sync users is not locked: nothing to do.\n');
    const unknown = await cli('unlock', '--sync', 'nope');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no sync named "nope"');
  });

  it('a running sync refreshes its heartbeat, and its lock is refused to others meanwhile', async () => {
    // A short expiry makes the heartbeat frequent (every sixth of it); the run is held on the destination.
    fs.writeFileSync(
      config,
      fs
        .readFileSync(config, 'utf8')
        .replace('state: { path: ./state.db }', 'state: { path: ./state.db, lockExpirySeconds: 1.2 }')
        .replace('timeoutSeconds: 2', 'timeoutSeconds: 300'),
    );
    emulator.hold();
    const slow = spawnCli(['--config', config, 'sync']);
    const closed = new Promise<number | null>((resolve) => slow.on('close', resolve));
    await waitUntil('the sync to start sending', () => emulator.received.length > 0, emulator);
    const first = locks()[0];
    expect(first).toMatchObject({ pid: slow.pid });
    const beaten = await waitUntil('the heartbeat to move past its first value', () => {
      const [lock] = locks();
      return lock && lock.heartbeat_at! > first.heartbeat_at! && lock;
    });
    expect(beaten.acquired_at).toBe(first.acquired_at);
    // Two beats later it is still alive: another sync is refused although the first beat is past the expiry.
    await waitUntil('two more heartbeats', () => {
      const [lock] = locks();
      return lock && Date.parse(lock.heartbeat_at!) - Date.parse(first.heartbeat_at!) > 1_200 && lock;
    });
    const second = await cli('sync');
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`process ${slow.pid} on `);

    emulator.release();
    expect(await closed).toBe(0);
    expect(locks()).toEqual([]);
  });

  it('a running sync whose lock is removed with unlock --force stops feeding, exits 1 and leaves no lock', async () => {
    fs.writeFileSync(
      config,
      fs
        .readFileSync(config, 'utf8')
        .replace('state: { path: ./state.db }', 'state: { path: ./state.db, lockExpirySeconds: 1.2 }')
        .replace('timeoutSeconds: 2', 'timeoutSeconds: 300')
        .replace('rateLimit: { requestsPerSecond: 500 }', 'rateLimit: { requestsPerSecond: 500 }\n    concurrency: 1'),
    );
    emulator.hold();
    const slow = spawnCli(['--config', config, 'sync']);
    let output = '';
    let log = '';
    slow.stdout.on('data', (chunk) => (output += chunk));
    slow.stderr.on('data', (chunk) => (log += chunk));
    const closed = new Promise<number | null>((resolve) => slow.on('close', resolve));
    await waitUntil('the sync to start sending', () => emulator.received.length > 0, emulator);

    const forced = await cli('unlock', '--sync', 'users', '--force');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`unlocked with --force while process ${slow.pid} on `);
    // The holder finds out at its next heartbeat; only then are its held requests answered.
    await waitUntil('the run to log that it lost its lock', () => log.includes('lost the sync lock: stopping this run'));
    emulator.release();
    expect(await closed).toBe(1);
    const run = lastRuns().at(-1)!;
    expect(run.error).toContain('the lock of sync "users" was removed by backflow unlock --force: this run stopped');
    expect(output).toContain('interrupted');
    // Concurrency 1 with two queued behind the gate: far fewer than the 6 rows went out.
    expect(emulator.received.length).toBeLessThan(6);
    expect(locks()).toEqual([]);
  });
});

describe('a state file from before heartbeats (schema 2)', () => {
  it('is migrated by sync; its lock from another host counts from when it was taken', async () => {
    const { dir, emulator } = await gamifyWarehouse(3);
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
    const state = path.join(dir, 'state.db');
    const old = new Database(state);
    for (const migration of MIGRATIONS.slice(0, 2)) old.exec(migration);
    old.pragma('user_version = 2');
    old.exec(`insert into locks (sync, pid, host, run_id, acquired_at) values ('users', 4242, 'old-host', null, '${new Date().toISOString()}')`);
    old.close();

    const refused = await runCli(['--config', config, 'sync']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('(process 4242 on old-host, since ');
    expect(refused.stderr).toContain('no heartbeat (an older Backflow)');

    sqliteExec(state, "update locks set acquired_at = '2026-01-01T00:00:00.000Z'");
    const takeover = await runCli(['--config', config, 'sync']);
    expect(takeover.code).toBe(0);
    expect(emulator.received).toHaveLength(3);
    expect(sqliteRows(state, 'pragma user_version')).toEqual([{ user_version: MIGRATIONS.length }]);
  });
});
