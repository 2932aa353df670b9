// Three `backflow daemon` members on one PostgreSQL state, against one GamifyHost emulator. A
// member is SIGKILLed mid-run, another is paused (SIGSTOP) past every lease mid-run and resumed; each
// time, per record, the emulator ends with every final value and the state matches the emulator;
// the destination never sees more requests in flight than its concurrency; re-sends stay within
// 2 × concurrency per disrupted member; no run of the sync ever overlaps another.
import path from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { DaemonProcess, daemonConfig, runFinished, SECRET_KEY, type LogLine } from '../daemon/daemon-process.js';
import { runCli, sqliteExec, sqliteTable, tempDir, users, waitUntil, writeFile } from '../helpers/index.js';
import { PG_STATE_URL, pgAdmin, pgStateSchema } from '../helpers/pg-state.js';

const USERS = 300;
const CONCURRENCY = 4;
/** A lock (and a member) silent this long is taken over: short, so a paused member is taken over soon. */
const LOCK_EXPIRY_SECONDS = 3;

let members: DaemonProcess[] = [];
afterEach(async () => {
  for (const member of members) {
    member.child.kill('SIGCONT');
    member.child.kill('SIGKILL');
  }
  await Promise.all(members.map((member) => member.exited));
  members = [];
});

async function fleet(count: number) {
  const dir = tempDir();
  sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(USERS));
  const emulator = new GamifyHostEmulator([SECRET_KEY]);
  await emulator.start();
  // Slow enough that a run lasts seconds, so members can be disrupted mid-run.
  emulator.latencyMs = 25;
  const schema = pgStateSchema();
  const config = daemonConfig({ schedule: '0 0 1 1 *', concurrency: CONCURRENCY, requestsPerSecond: 150 }).replace(
    'state: { path: ./state.db }',
    `state: { url: "${PG_STATE_URL}", schema: ${schema}, lockExpirySeconds: ${LOCK_EXPIRY_SECONDS} }`,
  );
  writeFile(dir, 'backflow.yaml', config);
  const env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url };
  members = Array.from({ length: count }, () => new DaemonProcess(path.join(dir, 'backflow.yaml'), env));
  await Promise.all(members.map((member) => member.url()));
  return { dir, emulator, schema, env };
}

/** The member whose log says it started the run with this id. */
function runnerOf(runStarted: (line: LogLine) => boolean): DaemonProcess | undefined {
  return members.find((member) => member.lines.some(runStarted));
}

async function stateRecords(schema: string): Promise<Map<string, { displayName: string }>> {
  const rows = await pgAdmin(async (client) => (await client.query(`select key, payload from ${schema}.records where sync = 'users'`)).rows);
  return new Map(rows.map((row: { key: string; payload: string }) => [row.key, JSON.parse(row.payload) as { displayName: string }]));
}

async function runsOf(schema: string) {
  return pgAdmin(
    async (client) =>
      (await client.query(`select id, outcome, started_at, ended_at, error from ${schema}.runs where sync = 'users' and outcome <> 'reset' order by id`))
        .rows as { id: number; outcome: string; started_at: string; ended_at: string | null; error: string | null }[],
  );
}

/** Every user has its final name at the vendor, and the state holds exactly what the vendor has. */
async function expectConverged(emulator: GamifyHostEmulator, schema: string, name: (id: number) => string) {
  const state = await stateRecords(schema);
  expect(state.size).toBe(USERS);
  for (let id = 1; id <= USERS; id++) {
    expect(emulator.profile(String(id))?.displayName, `user ${id} at the vendor`).toBe(name(id));
    expect(state.get(String(id))?.displayName, `user ${id} in the state`).toBe(name(id));
  }
}

/** No two runs of the sync overlap in time: one member at a time. */
function expectNoOverlap(runs: { started_at: string; ended_at: string | null }[]) {
  const spans = runs.map((run) => [Date.parse(run.started_at), Date.parse(run.ended_at ?? new Date().toISOString())] as const).sort((a, b) => a[0] - b[0]);
  for (let index = 1; index < spans.length; index++) expect(spans[index][0]).toBeGreaterThanOrEqual(spans[index - 1][1]);
}

it('a member killed mid-run: another completes the sync at once, sending only what was not confirmed', { timeout: 240_000 }, async () => {
  const { dir, emulator, schema } = await fleet(3);
  let killed: DaemonProcess | undefined;
  emulator.onRequest = () => {
    if (killed || emulator.received.length < USERS / 3) return;
    killed = members.find((member) => member.lines.some((line) => line.msg === 'run started'));
    killed?.child.kill('SIGKILL');
  };
  const trigger = await runCli(['trigger', '--sync', 'users', '--config', 'backflow.yaml'], {
    cwd: dir,
    env: { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url },
  });
  expect(trigger.code, trigger.stderr).toBe(0);
  const survivors = () => members.filter((member) => member !== killed);
  await waitUntil('the killed run to be completed by another member', () =>
    survivors().some((member) => member.lines.some((line) => runFinished('users')(line) && line.outcome === 'success')),
  );
  expect(killed).toBeDefined();
  await emulator.idle();

  await expectConverged(emulator, schema, (id) => `User ${id}`);
  expect(emulator.maxInFlight).toBeLessThanOrEqual(CONCURRENCY);
  const resent = emulator.received.length - USERS;
  expect(resent).toBeLessThanOrEqual(2 * CONCURRENCY);
  const runs = await runsOf(schema);
  expect(runs.map((run) => run.outcome)).toEqual(['interrupted', 'success']);
  expectNoOverlap(runs);
});

it('a member paused past every lease mid-run: another takes over; resumed, it commits and sends nothing more', { timeout: 240_000 }, async () => {
  const { dir, emulator, schema, env } = await fleet(2);
  // First, everything sent once; then every name changes and the next run is disrupted.
  expect((await runCli(['trigger', '--sync', 'users', '--wait', '--config', 'backflow.yaml'], { cwd: dir, env })).code).toBe(0);
  await emulator.idle();
  sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Renamed ' || cast(id as integer)");
  const before = emulator.received.length;
  emulator.maxInFlight = 0;

  let paused: DaemonProcess | undefined;
  let pausedAt = 0;
  const secondRun = (line: LogLine) => line.msg === 'run started' && line.runId !== undefined && (line.runId as number) > 1;
  emulator.onRequest = () => {
    if (paused || emulator.received.length - before < USERS / 3) return;
    paused = runnerOf(secondRun);
    pausedAt = emulator.received.length;
    paused?.child.kill('SIGSTOP');
  };
  expect((await runCli(['trigger', '--sync', 'users', '--config', 'backflow.yaml'], { cwd: dir, env })).code).toBe(0);
  const other = await waitUntil('a member to be paused mid-run', () => paused && members.find((member) => member !== paused));
  await other.waitForLog(
    (line) => runFinished('users')(line) && line.outcome === 'success' && (line.runId as number) > 1,
    'the other member to complete the run',
  );
  await emulator.idle();
  const afterTakeover = emulator.received.length;

  // Resumed: its run learns it lost the lock, commits nothing and sends no more.
  paused!.child.kill('SIGCONT');
  await paused!.waitForLog((line) => runFinished('users')(line) && line.outcome !== 'success', 'the resumed member to end its run');
  await emulator.idle();
  expect(emulator.received.length - afterTakeover, 'requests sent by the resumed member').toBe(0);

  await expectConverged(emulator, schema, (id) => `Renamed ${id}`);
  expect(emulator.maxInFlight).toBeLessThanOrEqual(CONCURRENCY);
  expect(emulator.received.length - before - USERS).toBeLessThanOrEqual(2 * CONCURRENCY);
  expect(pausedAt).toBeGreaterThan(before);
  const runs = await runsOf(schema);
  expect(runs.filter((run) => run.outcome === 'success')).toHaveLength(2);
  expect(runs.find((run) => run.outcome === 'interrupted')?.error).toMatch(/stopped heartbeating/);
  expectNoOverlap(runs);
});
