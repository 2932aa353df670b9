// A destination in fleet mode: its pacer and gate are the fleet's, a vendor's Retry-After pauses the
// whole fleet through the budget row, and a send under a lost run lock stops with LockLostError.
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connectorFor } from '../../connectors/index.js';
import { parseConfig } from '../../src/config/load.js';
import type { DestinationConfig } from '../../src/config/schema.js';
import { Destination } from '../../src/delivery/destination.js';
import { FleetBudgets } from '../../src/fleet/budgets.js';
import { LockLostError } from '../../src/fleet/lock-lost.js';
import { FleetRateBudget } from '../../src/fleet/rate-budget.js';
import { FleetSlots } from '../../src/fleet/slots.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyConfig, tempDir } from '../helpers/index.js';
import { freshSchema, memberConnection } from './members.js';

async function fleetDestination() {
  const schema = await freshSchema();
  const emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
  const url = await emulator.start();
  onTestFinished(() => emulator.stop());
  const loaded = parseConfig(gamifyConfig({ url }), path.join(tempDir(), 'backflow.yaml'), process.env);
  const config = loaded.config.destinations.gamify as DestinationConfig;
  const budgets = await FleetBudgets.open(memberConnection(schema));
  onTestFinished(() => budgets.close());
  const destination = new Destination({ name: 'gamify', connector: connectorFor(config.type), config, fleet: budgets });
  const admin = new pg.Client(memberConnection(schema));
  await admin.connect();
  onTestFinished(() => admin.end());
  return { emulator, destination, admin };
}

const payload = (id: string) => ({ externalId: id, displayName: `User ${id}`, email: `user${id}@example.com` });
const context = (key: string, fence?: { sync: string; token: string }) => ({
  sync: 'users',
  key,
  fingerprint: `f${key}`,
  changedAt: '2026-01-01T00:00:00Z',
  fence,
});

describe('a destination given the fleet budgets', () => {
  it('paces and gates with the fleet’s, and writes a Retry-After into the budget row', async () => {
    const { emulator, destination, admin } = await fleetDestination();
    expect(destination.limiter).toBeInstanceOf(FleetRateBudget);
    expect(destination.gate).toBeInstanceOf(FleetSlots);
    expect(destination.gate.limit).toBe(destination.concurrency);

    emulator.inject({ kind: 'status', status: 429, body: { status: 'error', code: 'RATE_LIMITED', message: 'slow down' }, headers: { 'retry-after': '1' } });
    const result = await destination.send(payload('1'), context('1'));
    expect(result).toMatchObject({ kind: 'sent', attempts: 2 });
    const { rows } = await admin.query<{ paused: boolean }>(`select paused_until > '-infinity' as paused from rate_budgets where destination = 'gamify'`);
    expect(rows).toEqual([{ paused: true }]);
    // The retry waited for the pause the row holds.
    expect(emulator.received[1].at - emulator.received[0].at).toBeGreaterThanOrEqual(1000);
  });

  it('stops sending with LockLostError once the run’s lock belongs to another member', async () => {
    const { emulator, destination, admin } = await fleetDestination();
    await admin.query(`insert into locks values ('users', 'mine')`);
    const fence = { sync: 'users', token: 'mine' };
    expect(await destination.send(payload('1'), context('1', fence))).toMatchObject({ kind: 'sent' });

    await admin.query(`update locks set token = 'theirs'`);
    // At 500/s a statement reserves a block of moments (about 20 ms, the next one reserved during the
    // last quarter of this one): those checked against the lock before the takeover may still go,
    // then the next reservation refuses.
    const { blockSize } = destination.limiter as FleetRateBudget;
    let sent = 0;
    const refused = (async () => {
      for (;;) {
        await destination.send(payload(String(2 + sent)), context(String(2 + sent), fence));
        sent++;
      }
    })();
    await expect(refused).rejects.toBeInstanceOf(LockLostError);
    expect(sent).toBeLessThanOrEqual(blockSize * 1.25);
    expect(emulator.received).toHaveLength(1 + sent);
  });
});
