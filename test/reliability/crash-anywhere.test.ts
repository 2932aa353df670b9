// Crash anywhere: a sync of 2,000 changed records is SIGKILLed at seeded random points (counted in
// requests the destination received), and each kill is followed by a rerun through the CLI. After
// every kill the state holds only what the destination confirmed; after the round's last rerun
// every record reached the destination with its final values, the state matches the destination
// exactly, and every re-send is accounted for by a record that was in flight at a kill.
//
// Why re-sends are bounded by 2 × concurrency per kill: at the instant of a kill, a record the
// destination received but that the state does not hold as confirmed is either (1) on the wire —
// sent, not yet answered, at most `concurrency` of them (the destination's gate), or (2) answered,
// its confirmation buffered by the sync's Committer, which commits on setImmediate after the
// current burst of answers: at most `concurrency` answers fit in one burst, since no more requests
// than that are ever open. Everything else was either committed (never sent again) or never sent.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyConfig, runCli, spawnCli, sqliteExec, sqliteRows, sqliteTable, users, writeFile } from '../helpers/index.js';
import { seededRandom } from './random.js';

const RECORDS = 2000;
const CONCURRENCY = 8;
const ROUNDS = 3;
const KILLS_PER_ROUND = 8;
const SEED = 0x8ac4f10;
/**
 * Each test's backstop for a hang, not a budget: every wait inside ends on an event (the Nth request,
 * the child's exit), and each child is killed and awaited when its test ends (spawnCli), so a round
 * that fails never leaves a CLI holding the sync lock for the next one. A round (8 killed runs and a
 * rerun of up to 2,000 records) takes several times longer on a loaded machine than on a quiet one.
 */
const ROUND_BACKSTOP_MS = 600_000;

interface Payload {
  externalId: string;
  displayName: string;
  email: string;
  country: string;
  tags: { plan: string };
}

/** What the destination must end up holding for record `id` after round `round`. */
function expectedPayload(id: number, round: number): Payload {
  const row = users(1, id)[0];
  return {
    externalId: String(id),
    displayName: `User ${id} r${round}`,
    email: String(row.email),
    country: String(row.country).toUpperCase(),
    tags: { plan: String(row.plan) },
  };
}

describe('a sync SIGKILLed at any point', { timeout: ROUND_BACKSTOP_MS }, () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;
  const random = seededRandom(SEED);
  const killPoints: number[] = [];
  let resends = 0;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backflow-crash-'));
    emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
    await emulator.start();
    emulator.latencyMs = 2;
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(RECORDS));
    const text = gamifyConfig({ url: emulator.url, destinationExtra: `    concurrency: ${CONCURRENCY}` }).replace(
      'requestsPerSecond: 500',
      'requestsPerSecond: 5000',
    );
    config = writeFile(dir, 'backflow.yaml', text);
  });
  afterAll(async () => {
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    console.log(`crash-anywhere: ${killPoints.length} kill points (requests into the run): ${killPoints.join(', ')}; ${resends} records re-sent in all`);
  });

  /** The records the state holds as confirmed, by key. */
  const committed = (): Map<string, Payload> => {
    if (!fs.existsSync(path.join(dir, 'state.db'))) return new Map();
    const rows = stateRows<{ key: string; payload: string }>("select key, payload from records where sync = 'users'");
    return new Map(rows.map((row) => [row.key, JSON.parse(row.payload) as Payload]));
  };

  const stateRows = <T>(sql: string): T[] => sqliteRows<T>(path.join(dir, 'state.db'), sql);

  /** Runs `backflow sync` and SIGKILLs it as the destination receives the run's `killAt`-th request. */
  async function syncKilledAt(killAt: number): Promise<void> {
    const startedWith = emulator.received.length;
    const child = spawnCli(['--config', config, 'sync']);
    emulator.onRequest = () => {
      if (emulator.received.length - startedWith === killAt) child.kill('SIGKILL');
    };
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (...args) => resolve(args)));
    emulator.onRequest = undefined;
    // Requests the dead process left open still complete at the destination (it applies them).
    await emulator.idle();
    expect({ code, signal, output: signal ? '' : output }).toEqual({ code: null, signal: 'SIGKILL', output: '' });
    // Requests already on the wire when the kill landed may arrive just after it.
    expect(emulator.received.length - startedWith).toBeGreaterThanOrEqual(killAt);
  }

  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: ${KILLS_PER_ROUND} kills, then a rerun to completion, lose nothing and re-send only what was in flight`, async () => {
      // Every record changes: this round's sync has RECORDS records to send.
      sqliteExec(path.join(dir, 'warehouse.db'), `update users set name = 'User ' || cast(id as integer) || ' r${round}'`);
      const roundStart = emulator.received.length;
      const isCurrent = (payload: Payload | undefined) => payload?.displayName.endsWith(` r${round}`) ?? false;
      const inFlightAtKill: Set<string>[] = [];

      for (let kill = 0; kill < KILLS_PER_ROUND; kill++) {
        const before = committed();
        const remaining = RECORDS - [...before.values()].filter(isCurrent).length;
        const killAt = 1 + Math.floor(random() * remaining);
        killPoints.push(killAt);
        const runStart = emulator.received.length;
        await syncKilledAt(killAt);

        const after = committed();
        // Nothing is marked sent that the destination did not confirm: every record committed in
        // this round is held by the destination exactly as the state says.
        for (const [key, payload] of after) {
          if (!isCurrent(payload)) continue;
          expect(payload).toEqual(expectedPayload(Number(key), round));
          expect(emulator.profile(key)).toMatchObject(payload);
        }
        // Received by the destination in this run but not committed: in flight at the kill.
        const receivedInRun = new Set(emulator.sentBodies.slice(runStart).map((body) => body.externalId as string));
        const inFlight = new Set([...receivedInRun].filter((key) => !isCurrent(after.get(key))));
        expect(inFlight.size, `in flight at kill ${killPoints.length} (request ${killAt})`).toBeLessThanOrEqual(2 * CONCURRENCY);
        inFlightAtKill.push(inFlight);
      }

      const rerun = await runCli(['--config', config, 'sync']);
      expect(rerun.stderr).toBe('');
      expect(rerun.code).toBe(0);

      // Every changed record reached the destination with its final values…
      for (let id = 1; id <= RECORDS; id++) expect(emulator.profile(String(id))).toMatchObject(expectedPayload(id, round));
      // …the state matches the destination record for record…
      const state = committed();
      expect(state.size).toBe(RECORDS);
      for (const [key, payload] of state) expect(payload).toEqual(expectedPayload(Number(key), round));
      // …and each record was sent once, plus once per kill that caught it in flight.
      const sends = new Map<string, number>();
      for (const body of emulator.sentBodies.slice(roundStart)) sends.set(body.externalId as string, (sends.get(body.externalId as string) ?? 0) + 1);
      expect(sends.size).toBe(RECORDS);
      for (const [key, count] of sends) {
        const caught = inFlightAtKill.filter((inFlight) => inFlight.has(key)).length;
        if (count !== 1 + caught) expect({ key, count }).toEqual({ key, count: 1 + caught });
      }
      resends += emulator.sentBodies.length - roundStart - RECORDS;

      // Each killed run is recorded as interrupted, the rerun as a success; no lock is left behind.
      const runs = stateRows<{ outcome: string }>('select outcome from runs order by id desc limit ' + (KILLS_PER_ROUND + 1));
      expect(runs.map((run) => run.outcome)).toEqual(['success', ...Array(KILLS_PER_ROUND).fill('interrupted')]);
      expect(stateRows('select * from locks')).toEqual([]);
    });
  }

  it('leaves nothing to send afterwards', async () => {
    const plan = await runCli(['--config', config, 'plan']);
    expect(plan.stdout).toContain('Plan: nothing to send.');
    expect(plan.code).toBe(0);
    expect(killPoints).toHaveLength(ROUNDS * KILLS_PER_ROUND);
  });
});
