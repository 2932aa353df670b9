// A sync killed with SIGKILL mid-run loses nothing: the next run sends what was not confirmed,
// and the state ends up matching exactly what the destination holds.
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, sqliteRows, writeFile } from './helpers/index.js';

const COUNT = 300;

describe('a sync killed with SIGKILL', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(COUNT));
    emulator.latencyMs = 15;
    config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
  });

  it('is completed by the next run, with every record delivered and state matching the destination', async () => {
    const child = spawnCli(['--config', config, 'sync']);
    // Killed the moment the destination has received a third of the records, with more in flight.
    emulator.onRequest = () => {
      if (emulator.received.length === COUNT / 3) child.kill('SIGKILL');
    };
    const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    expect(await closed).toBe('SIGKILL');
    emulator.onRequest = undefined;
    const receivedAtKill = emulator.received.length;
    expect(receivedAtKill).toBeLessThan(COUNT);

    const rerun = await runCli(['--config', config, 'sync']);
    expect(rerun.code).toBe(0);

    // Every record reached the destination…
    const keys = [...new Set(emulator.sentBodies.map((body) => body.externalId as string))];
    expect(keys).toHaveLength(COUNT);
    // …and re-sends are limited to what was in flight at the kill (concurrency 4, one commit burst).
    expect(emulator.received.length - COUNT).toBeLessThanOrEqual(8);

    // The state holds, for every record, exactly the payload the destination last received.
    const lastBody = new Map(emulator.sentBodies.map((body) => [body.externalId as string, body]));
    const stateFile = path.join(dir, 'state.db');
    const rows = sqliteRows<{ key: string; payload: string }>(stateFile, "select key, payload from records where sync = 'users'");
    const runs = sqliteRows<{ outcome: string }>(stateFile, 'select outcome from runs order by id');
    expect(rows).toHaveLength(COUNT);
    for (const row of rows) expect(JSON.parse(row.payload)).toEqual(lastBody.get(row.key));
    // The killed run is recorded as interrupted, the rerun as a success.
    expect(runs.map((run) => run.outcome)).toEqual(['interrupted', 'success']);

    const plan = await runCli(['--config', config, 'plan']);
    expect(plan.code).toBe(0);
  });
});
