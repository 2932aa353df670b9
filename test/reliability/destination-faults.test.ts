// Destination faults: storms of 429 (with and without Retry-After), 5xx bursts, hung requests,
// connections reset mid-answer, and 200s with a body that is not the documented answer. Every run
// ends with a clear outcome, no record is tried more often than the retry policy allows, and only
// records the destination confirmed are committed; the others go out again on the next run.
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { DeliveryObserver } from '../../src/delivery/destination.js';
import { runSync } from '../../src/engine/sync.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import type { Fault, ReceivedRequest } from '../../sandbox/http-emulator.js';
import { gamifyConfig, gamifyWarehouse, retryLog, runCli, sqliteTable, users, workspaceFor, writeFile } from '../helpers/index.js';

const RECORDS = 20;
/** gamifyConfig's retry policy: 3 retries after the first try. */
const MAX_TRIES = 4;

const forKeys =
  (...keys: string[]) =>
  (request: ReceivedRequest) =>
    keys.includes(String((request.body as { externalId?: unknown }).externalId));

describe('destination faults', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;

  beforeEach(async () => ({ dir, emulator } = await gamifyWarehouse(RECORDS)));

  const setup = (edit = (text: string) => text, observer?: DeliveryObserver) => {
    const workspace = workspaceFor(edit(gamifyConfig({ url: emulator.url })), dir, {}, observer);
    return { workspace, sync: () => runSync(workspace, workspace.syncNamed('users')) };
  };

  /** Requests the emulator received per record key. */
  const triesByKey = () => {
    const tries = new Map<string, number>();
    for (const body of emulator.sentBodies) tries.set(String(body.externalId), (tries.get(String(body.externalId)) ?? 0) + 1);
    return tries;
  };

  /** The keys of `tries` whose count is not 1, as { key: count }. */
  const retried = (tries: Map<string, number>) => Object.fromEntries([...tries].filter(([, count]) => count !== 1));

  /** Keys the state holds as confirmed. */
  const committedKeys = (workspace: ReturnType<typeof setup>['workspace']) =>
    [
      ...workspace.state
        .lookup(
          'users',
          users(RECORDS).map((row) => String(row.id)),
        )
        .records.keys(),
    ].sort((a, b) => Number(a) - Number(b));

  const allKeysBut = (...missing: string[]) =>
    users(RECORDS)
      .map((row) => String(row.id))
      .filter((key) => !missing.includes(key));

  const inject = (fault: Fault, times: number, ...keys: string[]) => {
    for (const key of keys) emulator.inject(fault, times, forKeys(key));
  };

  it('a storm of 429 without Retry-After: backoff, at most the configured tries, only confirmed records committed', async () => {
    const tooMany: Fault = { kind: 'status', status: 429, body: { status: 'error', code: 'RATE_LIMITED', message: 'Too many requests' } };
    inject(tooMany, 2, '5', '6', '7', '8', '9', '10', '11', '12'); // recover on the third try
    inject(tooMany, MAX_TRIES, '3'); // never recovers within the run
    const { workspace, sync } = setup();
    const run = await sync();

    expect(run.outcome).toBe('partial');
    expect(run.counts).toMatchObject({ sent: 19, failed: 1, rejected: 0 });
    expect(run.rejections).toEqual([{ key: '3', reason: 'HTTP 429: Too many requests (gave up after 4 attempts)' }]);
    expect(retried(triesByKey())).toEqual({ 3: 4, 5: 3, 6: 3, 7: 3, 8: 3, 9: 3, 10: 3, 11: 3, 12: 3 });
    expect(committedKeys(workspace)).toEqual(allKeysBut('3'));
    expect(workspace.state.rejections('users', 10)).toEqual([expect.objectContaining({ key: '3', status: 429 })]);

    const next = await sync();
    expect(next.outcome).toBe('success');
    expect(next.counts).toMatchObject({ retry: 1, sent: 1, unchanged: 19 });
    expect(committedKeys(workspace)).toEqual(allKeysBut());
  });

  it('a storm of 429 with Retry-After holds every request for the time asked, then sends everything', async () => {
    // The first four requests (all in flight at once) are told to come back in a second.
    emulator.inject({ kind: 'status', status: 429, headers: { 'retry-after': '1' }, body: { status: 'error', message: 'slow down' } }, 4);
    const { workspace, sync } = setup();
    const run = await sync();

    expect(run.outcome).toBe('success');
    expect(run.counts.sent).toBe(RECORDS);
    const stormed = emulator.received.slice(0, 4).map((request) => String((request.body as { externalId: string }).externalId));
    expect(retried(triesByKey())).toEqual(Object.fromEntries(stormed.map((key) => [key, 2])));
    // Nothing at all reached the destination while it asked for the pause, retried or new.
    const lastOfStorm = emulator.received[3].at;
    expect(emulator.received[4].at - emulator.received[0].at).toBeGreaterThanOrEqual(950);
    expect(emulator.received.slice(4).every((request) => request.at >= lastOfStorm)).toBe(true);
    expect(committedKeys(workspace)).toEqual(allKeysBut());
  });

  it('5xx bursts are retried within the limit; one that outlasts it fails the record, not the run', async () => {
    inject({ kind: 'status', status: 502, body: '<html>Bad Gateway</html>', headers: { 'content-type': 'text/html' } }, 2, '1', '2', '3', '4', '5');
    inject({ kind: 'status', status: 503, body: { status: 'error', message: 'maintenance' } }, MAX_TRIES, '7');
    inject({ kind: 'status', status: 500, body: { status: 'error', message: 'Failed to track user' } }, 1, '9');
    inject({ kind: 'status', status: 504, body: '' }, MAX_TRIES - 1, '11'); // succeeds on the last allowed try
    const { workspace, sync } = setup();
    const run = await sync();

    expect(run.outcome).toBe('partial');
    expect(run.counts).toMatchObject({ sent: 19, failed: 1 });
    expect(run.rejections).toEqual([{ key: '7', reason: 'HTTP 503: maintenance (gave up after 4 attempts)' }]);
    expect(retried(triesByKey())).toEqual({ 1: 3, 2: 3, 3: 3, 4: 3, 5: 3, 7: 4, 9: 2, 11: 4 });
    expect(committedKeys(workspace)).toEqual(allKeysBut('7'));
  });

  it('hung requests time out and are retried; a record whose every try hangs fails, unconfirmed', async () => {
    inject({ kind: 'hang' }, 1, '2', '4');
    inject({ kind: 'hang' }, MAX_TRIES, '6');
    const { observer, retries } = retryLog();
    const { workspace, sync } = setup((text) => text.replace('timeoutSeconds: 2', 'timeoutSeconds: 0.5'), observer);
    const run = await sync();

    expect(run.outcome).toBe('partial');
    expect(run.counts).toMatchObject({ sent: 19, failed: 1 });
    expect(run.rejections).toEqual([{ key: '6', reason: expect.stringMatching(/^ETIMEDOUT: Timeout awaiting 'request' for 500ms \(after 4 attempts\)$/) }]);
    // Every try after a record's first followed a timeout: the hung ones (2 and 4 once, 6 every time),
    // and any answer a loaded machine made slower than the 0.5 s allowed, which is a timeout too.
    expect(retries.filter((retry) => retry.reason !== 'ETIMEDOUT')).toEqual([]);
    const timeouts = new Map<string, number>();
    for (const { key } of retries) timeouts.set(key, (timeouts.get(key) ?? 0) + 1);
    expect(Object.fromEntries(triesByKey())).toEqual(Object.fromEntries(allKeysBut().map((key) => [key, 1 + (timeouts.get(key) ?? 0)])));
    expect(retried(triesByKey())).toMatchObject({ 2: expect.any(Number), 4: expect.any(Number), 6: MAX_TRIES });
    expect(committedKeys(workspace)).toEqual(allKeysBut('6'));
  });

  it('a connection reset mid-answer is not a confirmation: retried, and never committed unless a try is confirmed', async () => {
    inject({ kind: 'reset' }, 1, '3', '8'); // the vendor applied it, the answer was lost: tried again
    inject({ kind: 'reset' }, MAX_TRIES, '5'); // the vendor holds it, Backflow never heard so
    inject({ kind: 'drop' }, 2, '10'); // no answer at all
    const { workspace, sync } = setup();
    const run = await sync();

    expect(run.outcome).toBe('partial');
    expect(run.counts).toMatchObject({ sent: 19, failed: 1 });
    expect(run.rejections).toEqual([{ key: '5', reason: expect.stringMatching(/^ECONNRESET: .* \(after 4 attempts\)$/) }]);
    expect(retried(triesByKey())).toEqual({ 3: 2, 5: 4, 8: 2, 10: 3 });
    // At-least-once: the destination has record 5, the state does not, so the next run sends it again.
    expect(emulator.profile('5')).toBeDefined();
    expect(committedKeys(workspace)).toEqual(allKeysBut('5'));
    expect((await sync()).counts).toMatchObject({ retry: 1, sent: 1, unchanged: 19 });
    expect(triesByKey().get('5')).toBe(MAX_TRIES + 1);
  });

  it('a 200 whose body is not the documented answer is never taken as a confirmation', async () => {
    emulator.inject({ kind: 'malformed' }, 1, forKeys('4'));
    emulator.inject({ kind: 'status', status: 200, body: '{"status":"success","data":{', headers: { 'content-type': 'application/json' } }, 1, forKeys('9'));
    emulator.inject({ kind: 'status', status: 200, body: '', headers: {} }, 1, forKeys('13'));
    emulator.inject({ kind: 'status', status: 200, body: { status: 'error', message: 'User is archived' } }, 1, forKeys('17'));
    const { workspace, sync } = setup();
    const run = await sync();

    expect(run.outcome).toBe('partial');
    expect(run.counts).toMatchObject({ sent: 16, failed: 3, rejected: 1 });
    const reasons = Object.fromEntries(run.rejections.map((rejection) => [rejection.key, rejection.reason]));
    expect(reasons).toEqual({
      4: 'HTTP 200 without the success envelope (content-type text/html) (gave up after 1 attempt)',
      9: 'HTTP 200 without the success envelope (content-type application/json) (gave up after 1 attempt)',
      13: 'HTTP 200 without the success envelope (content-type application/json) (gave up after 1 attempt)',
      17: 'HTTP 200: User is archived',
    });
    expect(committedKeys(workspace)).toEqual(allKeysBut('4', '9', '13', '17'));
    const next = await sync();
    expect(next.counts).toMatchObject({ retry: 4, sent: 4, unchanged: 16 });
  });

  it('a destination that is down ends the run early as failed, instead of trying every record', async () => {
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(200));
    emulator.inject({ kind: 'status', status: 503, body: { status: 'error', message: 'Service Unavailable' } }, 100_000);
    const { workspace, sync } = setup();
    const run = await sync();

    expect(run.outcome).toBe('failed');
    expect(run.error).toBe(
      'destination "gamify" failed 10 records in a row after every retry (last: HTTP 503: Service Unavailable (gave up after 4 attempts)): ' +
        'the run stopped early; unsent records go out on the next run',
    );
    // Records already handed to the destination finish; nothing after the tenth failure starts.
    expect(run.counts.failed).toBeGreaterThanOrEqual(10);
    expect(run.counts.failed).toBeLessThan(10 + 4);
    expect(emulator.sentBodies.length).toBe(run.counts.failed * MAX_TRIES);
    expect(workspace.state.recordCount('users')).toBe(0);

    emulator.clearFaults();
    const next = await sync();
    expect(next.outcome).toBe('success');
    expect(next.counts.sent).toBe(200);
  });

  it('through the CLI, a fault storm ends with a summary naming each failed record and exit code 3', async () => {
    inject({ kind: 'status', status: 503, body: { status: 'error', message: 'maintenance' } }, MAX_TRIES, '2');
    inject({ kind: 'reset' }, MAX_TRIES, '12');
    inject({ kind: 'status', status: 429, body: { status: 'error', message: 'Too many requests' } }, 2, '1', '3', '5');
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
    const result = await runCli(['--config', config, 'sync']);

    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(
      /^Sync users: partial in \d+\.\ds \(run 1\)\n {2}read 20 {2}sent 18 {2}rejected 0 {2}failed 2 {2}unchanged 0 {2}invalid 0 {2}removed 0\n/,
    );
    expect(result.stdout).toContain('  ✗ 2: HTTP 503: maintenance (gave up after 4 attempts)\n');
    expect(result.stdout).toMatch(/ {2}✗ 12: ECONNRESET: .* \(after 4 attempts\)\n/);
    // Each retry is logged with the sync, the run and the record.
    const retries = result.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(retries).toHaveLength(3 + 3 + 6);
    expect(retries.every((line) => line.msg === 'retrying a request' && line.sync === 'users' && line.runId === 1)).toBe(true);
  });
});
