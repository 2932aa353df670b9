// Delivery against the GamifyHost emulator: retries, rejections, stops and pacing, asserted on what
// the emulator received and what the state holds.
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryObserver } from '../src/delivery/destination.js';
import { runSync } from '../src/engine/sync.js';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import type { ReceivedRequest } from '../sandbox/http-emulator.js';
import { gamifyConfig, gamifyWarehouse, retryLog, runCli, sqliteTable, users, workspaceFor, writeFile } from './helpers/index.js';
import { expectPaced, recordPacing } from './helpers/pacing.js';

const forKey = (key: string) => (request: ReceivedRequest) => (request.body as { externalId?: string }).externalId === key;

describe('delivery', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;

  beforeEach(async () => ({ dir, emulator } = await gamifyWarehouse(5)));

  const setup = (destinationExtra = '', edit = (text: string) => text, observer?: DeliveryObserver) => {
    const workspace = workspaceFor(edit(gamifyConfig({ url: emulator.url, destinationExtra })), dir, {}, observer);
    return { workspace, sync: () => runSync(workspace, workspace.syncNamed('users')) };
  };

  it('waits out a 429 Retry-After, then sends', async () => {
    emulator.inject({ kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: { status: 'error', message: 'slow down' } }, 1, forKey('3'));
    const { sync } = setup();
    const run = await sync();
    expect(run.outcome).toBe('success');
    expect(run.counts.sent).toBe(5);
    const attempts = emulator.received.filter(forKey('3'));
    expect(attempts).toHaveLength(2);
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(950);
  });

  it('retries a 500 and confirms the record once it succeeds', async () => {
    emulator.inject({ kind: 'status', status: 500, body: { status: 'error', message: 'Failed to track user' } }, 2, forKey('2'));
    const { workspace, sync } = setup();
    const run = await sync();
    expect(run.outcome).toBe('success');
    expect(emulator.received.filter(forKey('2'))).toHaveLength(3);
    expect(workspace.state.lookup('users', ['2']).records.get('2')).toBeDefined();
  });

  it('records a 400 with the vendor message and sends the record again on the next run', async () => {
    emulator.inject(
      { kind: 'status', status: 400, body: { status: 'error', code: 'BAD_REQUEST', message: 'Invalid request body (missing externalId)' } },
      1,
      forKey('4'),
    );
    const { workspace, sync } = setup();
    const first = await sync();
    expect(first.outcome).toBe('partial');
    expect(first.counts).toMatchObject({ sent: 4, rejected: 1 });
    expect(emulator.received.filter(forKey('4'))).toHaveLength(1); // a 400 is not retried within the run
    expect(workspace.state.rejections('users', 10)).toEqual([
      expect.objectContaining({ key: '4', status: 400, attempts: 1, reason: 'HTTP 400: Invalid request body (missing externalId)' }),
    ]);
    expect(workspace.state.lookup('users', ['4']).records.size).toBe(0);

    const second = await sync();
    expect(second.outcome).toBe('success');
    expect(second.counts).toMatchObject({ retry: 1, sent: 1, unchanged: 4 });
    expect(emulator.received.filter(forKey('4'))).toHaveLength(2);
    expect(workspace.state.rejections('users', 10)).toEqual([]);
  });

  it('stops the sync at the first 401, commits nothing unconfirmed, and says what to do', async () => {
    const { workspace, sync } = setup();
    emulator.validKeys.length = 0;
    const run = await sync();
    expect(run.outcome).toBe('stopped');
    expect(run.error).toContain('HTTP 401: Invalid API key');
    expect(run.error).toContain("check the destination's settings");
    expect(run.error).toContain('nothing more will be sent until this is fixed');
    expect(run.counts.sent).toBe(0);
    // Only requests already in flight when the 401 came back were made (concurrency 4).
    expect(emulator.received.length).toBeLessThanOrEqual(4);
    expect(workspace.state.recordCount('users')).toBe(0);
  });

  it('stops on a 403 revoked key too, and the CLI exits 1 without printing the key', async () => {
    emulator.revokedKeys.add('pk_test_secret_key_123');
    const file = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
    const result = await runCli(['--config', file, 'sync']);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('stopped');
    expect(result.stdout).toContain('HTTP 403: API key has been revoked');
    expect(result.stdout + result.stderr).not.toContain('pk_test_secret_key_123');
  });

  it('times out a hung request and retries it', async () => {
    emulator.inject({ kind: 'hang' }, 1, forKey('1'));
    const { observer, retries } = retryLog();
    const { sync } = setup('', (text) => text.replace('timeoutSeconds: 2', 'timeoutSeconds: 0.3'), observer);
    const run = await sync();
    expect(run.outcome).toBe('success');
    // The hung try timed out and was retried. Each try of record 1 after the first followed a timeout:
    // the hang's, and any answer a loaded machine made slower than the 0.3 s allowed (a timeout too).
    const timeouts = retries.filter((retry) => retry.key === '1');
    expect(timeouts.length).toBeGreaterThanOrEqual(1);
    expect(timeouts.every((retry) => retry.reason === 'ETIMEDOUT')).toBe(true);
    expect(emulator.received.filter(forKey('1'))).toHaveLength(1 + timeouts.length);
  });

  it('retries a connection dropped without an answer', async () => {
    emulator.inject({ kind: 'drop' }, 1, forKey('5'));
    const { sync } = setup();
    const run = await sync();
    expect(run.outcome).toBe('success');
    expect(emulator.received.filter(forKey('5'))).toHaveLength(2);
  });

  it('does not trust a 200 without the documented envelope: not confirmed, sent again next run', async () => {
    emulator.inject({ kind: 'malformed' }, 1, forKey('2'));
    const { workspace, sync } = setup();
    const run = await sync();
    expect(run.outcome).toBe('partial');
    expect(run.counts).toMatchObject({ sent: 4, failed: 1 });
    expect(workspace.state.lookup('users', ['2']).records.size).toBe(0);
    expect((await sync()).counts).toMatchObject({ retry: 1, sent: 1 });
  });

  it('gives up after the configured attempts, reporting how many were made', async () => {
    emulator.inject({ kind: 'status', status: 503, body: { status: 'error', message: 'maintenance' } }, 10, forKey('3'));
    const { sync } = setup();
    const run = await sync();
    expect(run.counts.failed).toBe(1);
    expect(run.rejections).toEqual([{ key: '3', reason: 'HTTP 503: maintenance (gave up after 4 attempts)' }]);
    expect(emulator.received.filter(forKey('3'))).toHaveLength(4);
  });

  it('does not wait for a Retry-After longer than the configured maximum', async () => {
    emulator.inject({ kind: 'status', status: 429, headers: { 'retry-after': '3600' }, body: { status: 'error', message: 'quota' } }, 1, forKey('1'));
    const { sync } = setup('', (text) => text.replace('maxDelaySeconds: 5', 'maxDelaySeconds: 1'));
    const run = await sync();
    expect(run.counts).toMatchObject({ failed: 1, sent: 4 });
    expect(emulator.received.filter(forKey('1'))).toHaveLength(1);
  });

  it('never exceeds the configured rate: the limiter’s departures, and what the emulator received', async () => {
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(30));
    const workspace = workspaceFor(gamifyConfig({ url: emulator.url }).replace('requestsPerSecond: 500', 'requestsPerSecond: 20'), dir);
    const sync = workspace.syncNamed('users');
    const pacing = recordPacing(workspace.destination(sync).limiter);
    const run = await runSync(workspace, sync);
    expect(run.counts.sent).toBe(30);
    expectPaced(
      pacing,
      emulator.received.map((request) => request.at),
      20,
    );
    expect(emulator.maxInFlight).toBeLessThanOrEqual(4);
  });

  it('holds every request while the vendor says its quota is used up (X-RateLimit-Remaining: 0)', async () => {
    const reset = String(Math.ceil(Date.now() / 1000) + 1);
    emulator.inject(
      { kind: 'status', status: 429, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset }, body: { status: 'error', message: 'quota' } },
      1,
      forKey('1'),
    );
    const { sync } = setup('    concurrency: 1');
    const run = await sync();
    expect(run.outcome).toBe('success');
    const first = emulator.received[0].at;
    const afterPause = emulator.received.slice(1);
    expect(afterPause.every((request) => request.at >= Number(reset) * 1000 - 50)).toBe(true);
    expect(afterPause[0].at - first).toBeGreaterThan(0);
  });
});
