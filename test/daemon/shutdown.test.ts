// SIGTERM mid-run: in-flight requests finish, every confirmed record is in the state, exit 0, and
// the next sync sends only the rest. A second signal exits at once and still loses no confirmed state.
import Database from 'better-sqlite3';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyWarehouse, runCli, waitUntil, writeFile } from '../helpers/index.js';
import { daemonConfig, DaemonProcess, SECRET_KEY } from './daemon-process.js';

const ALL_KEYS = Array.from({ length: 30 }, (_, index) => String(index + 1)).sort();

function readState(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      keys: (db.prepare("select key from records where sync = 'users' order by key").all() as { key: string }[]).map((row) => row.key),
      runs: db.prepare("select id, outcome, error, counts from runs where sync = 'users' order by id").all() as {
        id: number;
        outcome: string;
        error: string | null;
        counts: string;
      }[],
      locks: db.prepare('select * from locks').all(),
    };
  } finally {
    db.close();
  }
}

describe('stopping the daemon', () => {
  let emulator: GamifyHostEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(30));
    env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url };
    config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', concurrency: 2 }));
  });

  const keysOf = (bodies: Record<string, unknown>[]) => bodies.map((body) => String(body.externalId)).sort();

  /** Holds the destination's answers from the moment it has accepted `count` records: the run is mid-way, with requests in flight. */
  const holdAfterAccepting = (count: number) => {
    const off = emulator.onChange(() => {
      if (emulator.accepted < count) return;
      off();
      emulator.hold();
    });
    return waitUntil(`${count} records accepted`, () => emulator.accepted >= count, emulator);
  };

  it('on SIGTERM lets in-flight requests finish, commits them, exits 0, and the next sync sends only the rest', async () => {
    const daemon = new DaemonProcess(config, env);
    await holdAfterAccepting(6);
    daemon.signal('SIGTERM');
    await daemon.waitForLog((line) => line.msg.startsWith('shutting down'), 'the shutdown to begin');
    emulator.release(); // the requests in flight at the signal are answered now
    const exit = await daemon.exited;
    expect(exit.code).toBe(0);

    // Every request that reached the emulator was answered, read and committed.
    expect(emulator.received.length).toBe(emulator.accepted);
    const delivered = keysOf(emulator.sentBodies);
    expect(delivered.length).toBeLessThan(30);
    const state = readState(path.join(dir, 'state.db'));
    expect(state.keys).toEqual(delivered);
    expect(state.locks).toEqual([]);
    expect(state.runs.at(-1)).toMatchObject({ outcome: 'interrupted', error: expect.stringContaining('shutdown') });
    expect(JSON.parse(state.runs.at(-1)!.counts).sent).toBe(delivered.length);
    expect(daemon.lines.map((line) => line.msg)).toContain('daemon stopped');

    const before = emulator.sentBodies.length;
    const next = await runCli(['--config', config, 'sync'], { env });
    expect(next.code).toBe(0);
    const rest = keysOf(emulator.sentBodies.slice(before));
    expect(rest).toEqual(ALL_KEYS.filter((key) => !delivered.includes(key)));
  });

  it('on a second signal exits at once, with every confirmed record committed and the lock released', async () => {
    const daemon = new DaemonProcess(config, env);
    await holdAfterAccepting(4); // the requests in flight are never answered before the second signal
    daemon.signal('SIGTERM');
    await daemon.waitForLog((line) => line.msg.startsWith('shutting down'), 'the shutdown to begin');
    daemon.signal('SIGINT');
    const exit = await daemon.exited;
    expect(exit.code).toBe(1);
    expect(daemon.lines.find((line) => line.msg === 'run abandoned: unconfirmed records go out on the next run')).toMatchObject({
      sync: 'users',
      reason: 'a second SIGINT',
    });

    // Requests still waiting on the slow emulator were never confirmed: only accepted records are in the state.
    const state = readState(path.join(dir, 'state.db'));
    expect(state.keys.length).toBeGreaterThanOrEqual(4);
    const delivered = keysOf(emulator.sentBodies);
    for (const key of state.keys) expect(delivered).toContain(key);
    expect(state.locks).toEqual([]);
    expect(state.runs.at(-1)).toMatchObject({ outcome: 'interrupted', error: 'a second SIGINT' });

    // The next sync sends exactly what the state does not hold.
    emulator.release();
    const before = emulator.sentBodies.length;
    const next = await runCli(['--config', config, 'sync'], { env });
    expect(next.code).toBe(0);
    expect(keysOf(emulator.sentBodies.slice(before))).toEqual(ALL_KEYS.filter((key) => !state.keys.includes(key)));
  });

  it('when the grace period runs out, exits 1 with the run recorded as interrupted and the lock released', async () => {
    emulator.hold(); // no answer comes before the grace period runs out
    config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', concurrency: 2, graceSeconds: 1 }));
    const daemon = new DaemonProcess(config, env);
    await waitUntil('requests in flight', () => emulator.received.length >= 2, emulator);
    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(1);
    expect(daemon.lines.find((line) => line.msg === 'daemon stopped without waiting for in-flight requests')).toMatchObject({
      reason: 'the shutdown grace period (1s) ran out',
    });
    const state = readState(path.join(dir, 'state.db'));
    expect(state.keys).toEqual([]);
    expect(state.locks).toEqual([]);
    expect(state.runs.at(-1)).toMatchObject({ outcome: 'interrupted', error: 'the shutdown grace period (1s) ran out' });
  });
});
