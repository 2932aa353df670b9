// State faults: the state file locked by another process, read-only, on a full disk, from an older
// schema version, or damaged. Backflow never sends what it could not record, says what is wrong
// with the file and what to do, and never silently starts over with an empty state.
import Database from 'better-sqlite3';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { MIGRATIONS } from '../../src/state/migrations.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, sqliteExec, sqliteRows, sqliteTable, users, waitUntil, writeFile } from '../helpers/index.js';

/** Creating read-only files, immutable files and full disks for real needs root (mount, chattr). */
const isRoot = process.getuid?.() === 0;

let dir: string;
let emulator: GamifyHostEmulator;

beforeEach(async () => ({ dir, emulator } = await gamifyWarehouse(6)));

/** A config whose state file is `statePath` (absolute, or relative to the config). */
const configWithState = (statePath = './state.db') =>
  writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }).replace('state: { path: ./state.db }', `state: { path: "${statePath}" }`));

const cli = (config: string, ...args: string[]) => runCli(['--config', config, ...args]);

/** A small tmpfs of `size` at a fresh folder, unmounted when the test ends. */
function tmpfs(size: string): string {
  const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'backflow-mnt-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint]);
  onTestFinished(() => {
    spawnSync('chattr', ['-R', '-i', mountPoint]);
    execFileSync('umount', ['-l', mountPoint]);
    fs.rmSync(mountPoint, { recursive: true, force: true });
  });
  return mountPoint;
}

describe('a state file locked by another process', () => {
  it('waits while another process holds a write transaction, and sends nothing before it can record', async () => {
    const config = configWithState();
    expect((await cli(config, 'sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed'");
    const holder = new Database(path.join(dir, 'state.db'));
    holder.exec('begin immediate');
    const child = spawnCli(['--config', config, 'sync']);
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    // Held until the sync is waiting for the lock: SQLite's busy handler sleeps between its tries,
    // which Linux shows as the main thread's wait channel (Node itself waits in epoll, never there).
    await waitUntil('the sync to wait for the state file’s write lock', () => {
      if (child.exitCode !== null) throw new Error(`the sync exited (${child.exitCode}) before it waited for the lock`);
      return fs.readFileSync(`/proc/${child.pid}/wchan`, 'utf8').includes('nanosleep');
    });
    const releasedAt = Date.now();
    holder.exec('commit');
    holder.close();
    expect(await closed).toBe(0);
    expect(emulator.received).toHaveLength(12);
    expect(emulator.received.slice(6).every((request) => request.at >= releasedAt)).toBe(true);
  });

  it('gives up after the busy timeout with a message naming the file, having sent nothing', async () => {
    const config = configWithState();
    expect((await cli(config, 'sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed'");
    const holder = new Database(path.join(dir, 'state.db'));
    holder.exec('begin immediate');
    try {
      const result = await cli(config, 'sync');
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        `error: state file ${path.join(dir, 'state.db')} is locked by another process (waited 10 s for its write lock): ` +
          'another Backflow command or a tool holds a write transaction on it. Run again once it is released.\n',
      );
    } finally {
      holder.exec('rollback');
      holder.close();
    }
    expect(emulator.received).toHaveLength(6);
  });

  it('takes over a sync lock left by a process that died, and refuses one held on another host with a fresh heartbeat', async () => {
    const config = configWithState();
    expect((await cli(config, 'sync')).code).toBe(0);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const heartbeat = new Date().toISOString();
    const insertLock = (pid: number, host: string) =>
      sqliteExec(
        path.join(dir, 'state.db'),
        `insert or replace into locks (sync, pid, host, run_id, acquired_at, heartbeat_at) values ('users', ${pid}, '${host}', null, '2026-01-01T00:00:00.000Z', '${heartbeat}')`,
      );

    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed' where id = 1");
    insertLock(dead, os.hostname());
    const takeover = await cli(config, 'sync');
    expect(takeover.code).toBe(0);
    expect(emulator.received).toHaveLength(7);

    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed again' where id = 1");
    insertLock(4242, 'other-host');
    const refused = await cli(config, 'sync');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(
      `error: sync "users" is already running (process 4242 on other-host, since 2026-01-01T00:00:00.000Z, last heartbeat ${heartbeat})`,
    );
    expect(emulator.received).toHaveLength(7);
  });
});

describe.skipIf(!isRoot)('a read-only state file (needs root: chattr and mount)', () => {
  it('an immutable state file: sync refuses before sending; status still reads it', async () => {
    const mount = tmpfs('8m');
    const state = path.join(mount, 'state.db');
    const config = configWithState(state);
    expect((await cli(config, 'sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed'");
    execFileSync('chattr', ['+i', state]);
    const before = fs.readFileSync(state);

    const result = await cli(config, 'sync');
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(
        `^error: cannot write state file ${state}: it is read-only \\(SQLITE_[A-Z_]+\\)\\. Check the permissions of the file and its folder, and that its disk is mounted read-write\\.\\n$`,
      ),
    );
    expect(emulator.received).toHaveLength(6);
    expect(fs.readFileSync(state).equals(before)).toBe(true);

    const status = await cli(config, 'status', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).syncs[0]).toMatchObject({ records: 6, lastRun: { outcome: 'success' } });
  });

  it('a state file on a disk mounted read-only: every command refuses it, saying why; nothing is sent', async () => {
    const mount = tmpfs('8m');
    const state = path.join(mount, 'state.db');
    const config = configWithState(state);
    expect((await cli(config, 'sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed' where id = 2");
    execFileSync('mount', ['-o', 'remount,ro', mount]);

    // SQLite must create the -wal and -shm files beside a WAL database even to read it.
    for (const command of ['sync', 'plan', 'status']) {
      const result = await cli(config, command);
      expect(result.code, command).toBe(1);
      expect(result.stderr, command).toBe(
        `error: cannot use state file ${state}: its folder is read-only, and SQLite writes its -wal and -shm files next to the file, even to read it (SQLITE_CANTOPEN). ` +
          'Mount the disk read-write, or fix the permissions of the folder.\n',
      );
    }
    expect(emulator.received).toHaveLength(6);
  });
});

describe.skipIf(!isRoot)('a full disk (needs root: mount)', () => {
  it('fails the run with a clear message, keeps what was committed, and the next run finishes once there is space', async () => {
    const mount = tmpfs('192k');
    const state = path.join(mount, 'state.db');
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(800));
    const config = configWithState(state);
    const full = await cli(config, 'sync');

    expect(full.code).toBe(1);
    expect(full.stdout).toContain('Sync users: failed');
    expect(full.stdout).toContain(`cannot write state file ${state}: the disk is full (SQLITE_FULL). Free some space and run again`);
    expect(full.stderr).not.toMatch(/\n\s+at /);
    const sentBeforeFull = emulator.received.length;
    expect(sentBeforeFull).toBeLessThan(800);

    // What the state holds was confirmed by the destination, exactly as stored.
    const committed = sqliteRows<{ key: string; payload: string }>(state, "select key, payload from records where sync = 'users'");
    for (const row of committed) expect(emulator.profile(row.key)).toMatchObject(JSON.parse(row.payload));

    execFileSync('mount', ['-o', 'remount,size=32m', mount]);
    const rerun = await cli(config, 'sync');
    expect(rerun.code).toBe(0);
    expect(rerun.stdout).toContain(`unchanged ${committed.length}`);
    const stored = sqliteRows<{ key: string; payload: string }>(state, "select key, payload from records where sync = 'users'");
    expect(stored).toHaveLength(800);
    for (const row of stored) expect(emulator.profile(row.key)).toMatchObject(JSON.parse(row.payload));
    // Re-sent: only records confirmed after the last commit that fit on the disk.
    expect(emulator.received.length).toBe(800 + (sentBeforeFull - committed.length));
  });
});

describe('a state file from an older schema version', () => {
  it('an empty file (schema 0) is migrated by sync; plan reads it without changing it', async () => {
    const state = writeFile(dir, 'state.db', '');
    const config = configWithState();
    const plan = await cli(config, 'plan');
    expect(plan.stdout).toContain(`note: state file ${state} has schema 0; run a sync to migrate it`);
    expect(fs.statSync(state).size).toBe(0);

    expect((await cli(config, 'sync')).code).toBe(0);
    expect(sqliteRows<{ user_version: number }>(state, 'pragma user_version')).toEqual([{ user_version: MIGRATIONS.length }]);
    expect(sqliteRows(state, 'select key from records')).toHaveLength(6);
  });

  it('a schema-1 file (records without row hashes) is planned through a copy, then migrated and filled by sync', async () => {
    const config = configWithState();
    expect((await cli(config, 'sync')).code).toBe(0);
    const state = path.join(dir, 'state.db');
    // Back to what schema 1 looked like: no row_hash or source_hash column, no index, locks without heartbeats, no mapping hashes, no pending records.
    sqliteExec(
      state,
      'drop index records_row_hashes; alter table records drop column row_hash; alter table locks drop column heartbeat_at; alter table locks drop column token; drop table mappings; drop table pending_records; ' +
        'drop index records_source_hashes; alter table records drop column source_hash; ' +
        'pragma user_version = 1; pragma wal_checkpoint(truncate)',
    );
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed' where id = 2");
    const before = fs.readFileSync(state);

    const tmp = fs.mkdtempSync(path.join(dir, 'tmp-'));
    const plan = await runCli(['--config', config, 'plan', '--json'], { env: { ...process.env, TMPDIR: tmp } });
    expect(plan.code).toBe(2);
    const planned = JSON.parse(plan.stdout);
    expect(planned.syncs[0].counts).toMatchObject({ changed: 1, unchanged: 5, added: 0 });
    expect(planned.note).toBe(`state file ${state} has schema 1; run a sync to migrate it`);
    expect(fs.readFileSync(state).equals(before)).toBe(true);
    expect(fs.readdirSync(tmp).filter((name) => name.startsWith('backflow-state-'))).toEqual([]); // the copy is gone

    expect((await cli(config, 'sync')).code).toBe(0);
    expect(sqliteRows<{ user_version: number }>(state, 'pragma user_version')).toEqual([{ user_version: MIGRATIONS.length }]);
    // Sent (user 2) or found unchanged by payload: every record now has the hash of its row.
    expect(sqliteRows(state, 'select key from records where row_hash is null')).toEqual([]);
    expect(sqliteRows(state, 'select key from records')).toHaveLength(6);
  });

  it('a database of another program (schema 0 with its own tables) is refused, not taken over', async () => {
    const state = path.join(dir, 'state.db');
    sqliteExec(state, 'create table invoices (id integer primary key, total real); insert into invoices values (1, 9.5)');
    const before = fs.readFileSync(state);
    const result = await cli(configWithState(), 'sync');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: state file ${state} is not a Backflow state database: it has no Backflow schema version but holds other tables (invoices). ` +
        'It was not changed. Point state.path at a new file, or at the right state file.\n',
    );
    expect(fs.readFileSync(state).equals(before)).toBe(true);
    expect(emulator.received).toHaveLength(0);
  });
});

describe('a damaged state file', () => {
  /** A real state file after one sync, checkpointed into the main file. */
  async function syncedState(): Promise<{ config: string; state: string }> {
    const config = configWithState();
    expect((await cli(config, 'sync')).code).toBe(0);
    const state = path.join(dir, 'state.db');
    sqliteExec(state, 'pragma wal_checkpoint(truncate)');
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Changed'");
    return { config, state };
  }

  /** Asserts sync and status refuse the file with the damage message, leaving it byte for byte. */
  async function expectRefused(config: string, state: string): Promise<void> {
    const before = fs.readFileSync(state);
    for (const command of ['sync', 'status']) {
      const result = await cli(config, command);
      expect(result.code, command).toBe(1);
      expect(result.stderr, command).toMatch(
        new RegExp(
          `^error: state file ${state} is (not a valid Backflow state database|damaged) \\(.+\\)\\. It was not changed\\. Restore it from a backup, or move it aside to start over \\(every record will be sent again\\)\\.\\n$`,
        ),
      );
    }
    expect(fs.readFileSync(state).equals(before)).toBe(true);
    expect(emulator.received).toHaveLength(6);
  }

  it('refuses a truncated file', async () => {
    const { config, state } = await syncedState();
    const bytes = fs.readFileSync(state);
    fs.writeFileSync(state, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expectRefused(config, state);
  });

  it('refuses a file whose header was overwritten', async () => {
    const { config, state } = await syncedState();
    const bytes = fs.readFileSync(state);
    bytes.fill(0x41, 0, 100);
    fs.writeFileSync(state, bytes);
    await expectRefused(config, state);
  });

  it('refuses a file with damaged pages after the first, before anything is sent', async () => {
    const { config, state } = await syncedState();
    const bytes = fs.readFileSync(state);
    const pageSize = bytes.readUInt16BE(16);
    // Every page after the first (the schema) gets a garbled cell-pointer array: whichever page a
    // table starts in is hit.
    for (let offset = pageSize; offset < bytes.length; offset += pageSize) bytes.fill(0xff, offset + 8, offset + 64);
    fs.writeFileSync(state, bytes);
    await expectRefused(config, state);
  });
});
