// A sync never runs twice at once: not when its schedule fires during a run, and not when
// `backflow sync` and the daemon share the state file.
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyWarehouse, runCli, spawnCli, sqliteExec, sqliteRows, waitUntil, writeFile } from '../helpers/index.js';
import { daemonConfig, DaemonProcess, metric, parseMetrics, runFinished, SECRET_KEY } from './daemon-process.js';

interface RunRow {
  id: number;
  started_at: string;
  ended_at: string | null;
  outcome: string;
  pid: number;
}

function runsOf(stateFile: string): RunRow[] {
  return sqliteRows<RunRow>(stateFile, "select id, started_at, ended_at, outcome, pid from runs where sync = 'users' order by started_at");
}

/** No run started before the previous one ended. */
function expectNoOverlap(runs: RunRow[]): void {
  for (let index = 1; index < runs.length; index++) {
    expect(runs[index - 1].ended_at, `run ${runs[index - 1].id} ended`).not.toBeNull();
    expect(runs[index].started_at >= runs[index - 1].ended_at!, `run ${runs[index].id} started after run ${runs[index - 1].id} ended`).toBe(true);
  }
}

/** How many times the emulator received each record key. */
function timesSent(emulator: GamifyHostEmulator): Map<string, number> {
  const times = new Map<string, number>();
  for (const body of emulator.sentBodies) times.set(String(body.externalId), (times.get(String(body.externalId)) ?? 0) + 1);
  return times;
}

describe('one run per sync at a time', () => {
  let emulator: GamifyHostEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let config: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(10));
    env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url };
    config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', concurrency: 1 }));
  });

  it('skips and counts a tick that comes while the previous run is still going', async () => {
    emulator.hold(); // the first run waits on the destination across several ticks
    const daemon = new DaemonProcess(config, env);
    const skip = await daemon.waitForLog((line) => line.msg.startsWith('run skipped') && line.sync === 'users', 'a skipped tick');
    expect(skip).toMatchObject({ reason: 'overlap', runId: 1 });
    emulator.release();
    const first = await daemon.waitForLog(runFinished('users'), 'the first run');
    expect(first).toMatchObject({ runId: 1, outcome: 'success', counts: expect.objectContaining({ sent: 10 }) });

    const values = parseMetrics(await daemon.metricsText());
    const skips = daemon.lines.filter((line) => line.msg.startsWith('run skipped')).length;
    expect(metric(values, 'backflow_skipped_runs_total', { sync: 'users', reason: 'overlap' })).toBe(skips);
    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);

    expect([...timesSent(emulator).values()]).toEqual(Array(10).fill(1));
    expectNoOverlap(runsOf(path.join(dir, 'state.db')));
  });

  it('shares the state file with backflow sync without ever running the same sync twice', async () => {
    const stateFile = path.join(dir, 'state.db');

    // 1. `backflow sync` holds the sync (its requests wait on the destination): the daemon's ticks are skipped as locked.
    emulator.hold();
    const cli = spawnCli(['--config', config, 'sync', '--sync', 'users'], { env });
    const cliExit = new Promise<number | null>((resolve) => cli.on('exit', resolve));
    await waitUntil('the CLI sync to start sending', () => emulator.received.length >= 1, emulator);
    const daemon = new DaemonProcess(config, env);
    const locked = await daemon.waitForLog((line) => line.msg.startsWith('run skipped') && line.reason === 'locked', 'a tick skipped as locked');
    expect(locked.holder).toContain('is already running');
    emulator.release();
    expect(await cliExit).toBe(0);
    expect([...timesSent(emulator).values()]).toEqual(Array(10).fill(1));

    // 2. The daemon runs a change (held at the destination); `backflow sync` started meanwhile is refused.
    emulator.hold();
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Renamed ' || id");
    await waitUntil('the daemon to send the change', () => emulator.received.length >= 11, emulator);
    const refused = await runCli(['--config', config, 'sync', '--sync', 'users'], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/sync "users" is already running \(process \d+/);
    emulator.release();
    const changed = await daemon.waitForLog(
      (line) => runFinished('users')(line) && (line.counts as { changed: number }).changed === 10,
      'the daemon run with the change',
    );
    expect(changed).toMatchObject({ outcome: 'success', counts: expect.objectContaining({ sent: 10 }) });

    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);

    // Each record sent exactly once per change, and the runs never overlapped.
    expect([...timesSent(emulator).values()]).toEqual(Array(10).fill(2));
    expect(emulator.sentBodies.slice(10).every((body) => String(body.displayName).startsWith('Renamed '))).toBe(true);
    const runs = runsOf(stateFile);
    expectNoOverlap(runs);
    expect(new Set(runs.map((run) => run.pid)).size).toBe(2);
    expect(runs.every((run) => run.outcome === 'success')).toBe(true);
  });
});
