// Fleet mode end to end: two `backflow daemon` processes on one PostgreSQL state. A triggered run
// happens once for the fleet, `trigger --wait` exits as `sync` would, scheduled ticks run once per
// tick, and `status` lists both members. On a state file, `trigger` is refused.
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { gamifyWarehouse, runCli, spawnCli, sqliteExec, waitUntil, writeFile } from '../helpers/index.js';
import { PG_STATE_URL, pgStateSchema } from '../helpers/pg-state.js';
import { daemonConfig, DaemonProcess, runFinished, SECRET_KEY } from './daemon-process.js';

/** A warehouse, the GamifyHost emulator and a config whose state is a fresh PostgreSQL schema (dropped at the end). */
async function fleetSetup(options: { schedule?: string; count?: number } = {}) {
  const { dir, emulator } = await gamifyWarehouse(options.count ?? 10);
  const schema = pgStateSchema();
  const text = daemonConfig({ schedule: options.schedule ?? '0 0 1 1 *' }).replace(
    'state: { path: ./state.db }',
    `state: { url: "${PG_STATE_URL}", schema: ${schema}, lockExpirySeconds: 4 }`,
  );
  const config = writeFile(dir, 'backflow.yaml', text);
  const env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url };
  const daemons = async (count: number) => {
    const started = Array.from({ length: count }, () => new DaemonProcess(config, env));
    await Promise.all(started.map((daemon) => daemon.url()));
    return started;
  };
  const stop = async (daemons: DaemonProcess[]) => {
    for (const daemon of daemons) daemon.signal('SIGTERM');
    return Promise.all(daemons.map(async (daemon) => (await daemon.exited).code));
  };
  const cli = (...args: string[]) => runCli(['--config', config, ...args], { env });
  return { dir, emulator, schema, config, env, daemons, stop, cli };
}

/** How many times the emulator received each record key. */
function timesSent(bodies: Record<string, unknown>[]): number[] {
  const times = new Map<string, number>();
  for (const body of bodies) times.set(String(body.externalId), (times.get(String(body.externalId)) ?? 0) + 1);
  return [...times.values()];
}

describe('fleet mode: two daemons on one PostgreSQL state', () => {
  it('runs a triggered sync once, on one member, and status lists both members', async () => {
    const { emulator, daemons, stop, cli } = await fleetSetup();
    const members = await daemons(2);

    const status = await cli('--json', 'status');
    expect(status.code, status.stderr).toBe(0);
    const listed = (JSON.parse(status.stdout) as { members: { pid: number; gone: boolean; host: string }[] }).members;
    expect(listed.map((member) => member.pid).sort()).toEqual(members.map((daemon) => daemon.child.pid).sort());
    expect(listed.every((member) => !member.gone)).toBe(true);

    const triggered = await cli('trigger', '--sync', 'users', '--wait');
    expect(triggered.code, triggered.stderr).toBe(0);
    expect(triggered.stdout).toMatch(/^Sync users: success \(run \d+, job [0-9a-f-]{36}\)/);
    expect(triggered.stdout).toContain('sent 10');

    const finished = members.flatMap((daemon) => daemon.lines.filter(runFinished('users')));
    expect(finished).toHaveLength(1);
    expect(timesSent(emulator.sentBodies)).toEqual(Array(10).fill(1));

    const text = await cli('status');
    expect(text.stdout).toMatch(/MEMBER\s+HOST\s+PID\s+STARTED\s+LAST SEEN\s+RUNNING/);
    for (const daemon of members) expect(text.stdout).toContain(` ${daemon.child.pid} `);
    expect(await stop(members)).toEqual([0, 0]);
    // A clean stop leaves the registry.
    expect((JSON.parse((await cli('--json', 'status')).stdout) as { members: unknown[] }).members).toEqual([]);
  });

  it('trigger exits 0 once queued, and with --wait as sync would: 3 partial, 1 stopped', async () => {
    const { dir, emulator, daemons, stop, cli } = await fleetSetup();
    const members = await daemons(2);

    const queued = await cli('--json', 'trigger', '--sync', 'users');
    expect(queued.code, queued.stderr).toBe(0);
    const { job } = JSON.parse(queued.stdout) as { job: string };
    expect(job).toMatch(/^[0-9a-f-]{36}$/);
    await Promise.race(members.map((daemon) => daemon.waitForLog(runFinished('users'), 'the queued run')));

    sqliteExec(`${dir}/warehouse.db`, "update users set name = 'Refused' where id = 1");
    emulator.inject(
      { kind: 'status', status: 400, body: { status: 'error', message: 'Invalid request body (phone)' } },
      1,
      (request) => (request.body as { externalId: string }).externalId === '1',
    );
    const partial = await cli('--json', 'trigger', '--sync', 'users', '--wait');
    expect(partial.code, partial.stderr).toBe(3);
    expect(JSON.parse(partial.stdout)).toMatchObject({
      sync: 'users',
      state: 'completed',
      outcome: 'partial',
      counts: expect.objectContaining({ rejected: 1 }),
    });

    emulator.revokedKeys.add(SECRET_KEY);
    sqliteExec(`${dir}/warehouse.db`, "update users set name = 'Renamed' where id = 2");
    const stopped = await cli('trigger', '--sync', 'users', '--wait');
    expect(stopped.code).toBe(1);
    expect(stopped.stdout).toMatch(/^Sync users: stopped/);
    expect(await stop(members)).toEqual([0, 0]);
  });

  it('runs a triggered sync again at once on the other member when its member is SIGKILLed mid-run', async () => {
    const { emulator, daemons, cli, config, env } = await fleetSetup();
    const members = await daemons(2);
    emulator.hold(); // the first run waits on the destination
    const waiting = spawnCli(['--config', config, '--json', 'trigger', '--sync', 'users', '--wait'], { env });
    let output = '';
    waiting.stdout.on('data', (chunk) => (output += chunk));
    const waited = once(waiting, 'close');
    const started = await waitUntil('a member to start the run', () => members.find((daemon) => daemon.lines.some((line) => line.msg === 'run started')));
    await waitUntil('the run to send', () => emulator.received.length >= 1, emulator);
    const survivor = members.find((daemon) => daemon !== started)!;
    started.signal('SIGKILL');
    await started.exited;
    emulator.release();

    const [code] = (await waited) as [number | null];
    expect(code, output).toBe(0);
    const result = JSON.parse(output) as { outcome: string; member: string; runId: number };
    expect(result.outcome).toBe('success');
    expect(survivor.lines.some((line) => line.msg === 'run finished' && line.runId === result.runId)).toBe(true);
    expect(emulator.profiles.size).toBe(10);
    const runs = (JSON.parse((await cli('--json', 'runs', '--sync', 'users')).stdout) as { runs: { id: number; outcome: string }[] }).runs;
    expect(runs.map((run) => run.outcome).sort()).toEqual(['interrupted', 'success']);
    survivor.signal('SIGTERM');
    expect((await survivor.exited).code).toBe(0);
  });

  it('runs each scheduled tick once for the whole fleet', async () => {
    const { daemons, stop, cli } = await fleetSetup({ schedule: '*/2 * * * * *' });
    const members = await daemons(2);
    const finishedRuns = () => members.flatMap((daemon) => daemon.lines.filter(runFinished('users')));
    await waitUntil('three scheduled runs over the fleet', () => finishedRuns().length >= 3);
    expect(await stop(members)).toEqual([0, 0]);

    // Each tick was queued by exactly one member (the other's send inserted nothing).
    const queuedTicks = members.flatMap((daemon) => daemon.lines.filter((line) => line.msg === 'tick queued for the fleet').map((line) => line.tick as string));
    expect(new Set(queuedTicks).size).toBe(queuedTicks.length);
    // And every run the fleet made is one of those ticks: no tick ran twice.
    const runs = JSON.parse((await cli('--json', 'runs', '--sync', 'users')).stdout) as { runs: unknown[] };
    expect(runs.runs.length).toBe(finishedRuns().length);
    expect(finishedRuns().length).toBeLessThanOrEqual(queuedTicks.length);
  });
});

describe('trigger on a state file', () => {
  it('is refused in one line naming state.url', async () => {
    const { dir } = await gamifyWarehouse(1);
    const config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '0 0 1 1 *' }));
    const result = await runCli(['--config', config, 'trigger', '--sync', 'users'], { env: { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: 'http://127.0.0.1:9' } });
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/backflow trigger .*needs a PostgreSQL state \(state\.url\)/);
  });
});
