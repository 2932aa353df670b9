// A daemon started from a terminal, whose terminal goes away mid-run: the kernel's SIGHUP stops it
// like SIGTERM (in-flight requests finish, the run is recorded as interrupted with its real counts,
// the lock is released), instead of reloading the config and then dying on the next write to a dead
// terminal. The terminal is a real pseudo-terminal (util-linux `script`); killing `script` closes it.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { ChangeSignal } from '../helpers/wait.js';
import { gamifyWarehouse, REPO, waitUntil, writeFile } from '../helpers/index.js';
import { daemonConfig, SECRET_KEY } from './daemon-process.js';

const CLI = path.join(REPO, 'dist', 'src', 'cli', 'main.js');

function readState(file: string) {
  const db = new Database(file, { readonly: true });
  try {
    return {
      keys: (db.prepare("select key from records where sync = 'users'").all() as { key: string }[]).map((row) => row.key).sort(),
      runs: db.prepare("select outcome, error, counts, pid from runs where sync = 'users' order by id").all() as {
        outcome: string;
        error: string | null;
        counts: string;
        pid: number;
      }[],
      locks: db.prepare('select * from locks').all(),
    };
  } finally {
    db.close();
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('a daemon whose terminal goes away', () => {
  let emulator: GamifyHostEmulator;
  let dir: string;
  let config: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(30));
    config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', concurrency: 2 }));
  });

  /** The daemon in a pseudo-terminal of its own: `script` runs it as the session leader of that terminal. */
  function daemonInTerminal() {
    const command = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} daemon --config ${JSON.stringify(config)}`;
    const terminal = spawn('script', ['-qfec', command, '/dev/null'], {
      env: { ...process.env, GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const closed = once(terminal, 'close').catch(() => undefined);
    onTestFinished(async () => {
      if (terminal.exitCode === null && terminal.signalCode === null) terminal.kill('SIGKILL');
      await closed;
    });
    let screen = '';
    const changes = new ChangeSignal();
    terminal.stdout.on('data', (chunk) => {
      screen += chunk;
      changes.notify();
    });
    return { terminal, screen: () => screen, changes };
  }

  it('stops on the hangup like on SIGTERM: in-flight requests finish, the run is recorded with its real counts', async () => {
    const { terminal, screen, changes } = daemonInTerminal();
    // On a terminal the log is readable text, and says what a SIGHUP will do.
    const url = await waitUntil<string | undefined>('the daemon to start', () => /daemon started url=(http:\/\/127\.0\.0\.1:\d+)/.exec(screen())?.[1], changes);
    await waitUntil('the SIGHUP notice', () => screen().includes('closing it (SIGHUP) stops the daemon'), changes);

    // Mid-run, with requests in flight: the terminal goes away.
    await waitUntil('6 records accepted', () => emulator.accepted >= 6, emulator);
    emulator.hold();
    terminal.kill('SIGKILL');
    await waitUntil('the daemon to begin its shutdown', async () => (await fetch(`${url}/readyz`)).status === 503);
    emulator.release();

    const pid = readState(path.join(dir, 'state.db')).runs[0].pid;
    await waitUntil('the daemon to exit', () => !alive(pid));
    const state = readState(path.join(dir, 'state.db'));
    const delivered = emulator.sentBodies.map((body) => String(body.externalId)).sort();
    expect(emulator.received.length).toBe(emulator.accepted);
    expect(delivered.length).toBeLessThan(30);
    expect(state.keys).toEqual(delivered);
    expect(state.locks).toEqual([]);
    expect(state.runs.map((run) => run.outcome)).not.toContain('running');
    const last = state.runs.at(-1)!;
    expect(last).toMatchObject({ outcome: 'interrupted', error: expect.stringContaining('shutdown') });
    // Real counts: what the destination confirmed over all runs is what the runs say they sent.
    expect(state.runs.reduce((sum, run) => sum + (JSON.parse(run.counts) as { sent: number }).sent, 0)).toBe(delivered.length);
  });
});
