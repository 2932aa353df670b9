// The segment destination end to end: a SQLite warehouse synced through the real CLI (and the
// engine) into the Segment emulator via the real @segment/analytics-node client.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { runSync } from '../../src/engine/sync.js';
import { SegmentEmulator } from '../../sandbox/segment.js';
import { runCli, sqliteExec, sqliteTable, tempDir, users, workspaceFor, writeFile } from '../helpers/index.js';

const WRITE_KEY = 'wk_live_segment_secret_4821';

const CONFIG = `
version: 1
state: { path: ./state.db }
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  segment:
    type: segment
    writeKey: \${SEGMENT_WRITE_KEY}
    host: \${SEGMENT_HOST}
    retry: { attempts: 1 }
syncs:
  - name: users-to-segment
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: segment
    mapping:
      userId: id
      traits.name: name
      traits.email: email
      traits.country: { column: country, transform: upper }
      traits.plan: plan
      timestamp: updated_at
`;

describe('syncing a warehouse to Segment', () => {
  let emulator: SegmentEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    emulator = new SegmentEmulator([WRITE_KEY]);
    dir = tempDir();
    env = { SEGMENT_WRITE_KEY: WRITE_KEY, SEGMENT_HOST: await emulator.start() };
    writeFile(dir, 'backflow.yaml', CONFIG);
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(25));
  });
  afterEach(() => emulator.stop());

  const cli = (...args: string[]) => runCli(['--config', path.join(dir, 'backflow.yaml'), ...args], { env });
  const stateBytes = () => fs.readFileSync(path.join(dir, 'state.db')).toString('latin1');

  it('sends one identify per record, shaped by the mapping, as analytics-node batches, and nothing on a second run', async () => {
    const first = await cli('sync');
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('sent 25');

    expect(emulator.identifies).toHaveLength(25);
    expect(new Set(emulator.identifies.map((message) => message.userId))).toEqual(new Set(users(25).map((row) => String(row.id))));
    const seven = emulator.identifies.find((message) => message.userId === '7')!;
    expect(seven).toEqual({
      type: 'identify',
      userId: '7',
      traits: { name: 'User 7', email: 'user7@example.com', country: 'US', plan: 'free' },
      timestamp: '2026-01-01T00:00:07Z',
      messageId: expect.stringMatching(/^backflow-[0-9a-f]{64}$/),
      integrations: {},
      context: { library: { name: '@segment/analytics-node', version: '3.1.0' } },
      _metadata: { nodeVersion: process.version, jsRuntime: 'node' },
    });
    expect(new Set(emulator.identifies.map((message) => message.messageId)).size).toBe(25);
    expect(emulator.dropped).toEqual([]);

    // What analytics-node really sent: batches of at most 15 to /v1/batch, key in the body.
    const request = emulator.received[0];
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/batch');
    expect(request.headers['user-agent']).toBe('analytics-node-next/latest');
    expect((request.body as { writeKey: string }).writeKey).toBe(WRITE_KEY);
    // Batches fill up to the 15-message cap; how the 25 split depends on timing.
    const sizes = emulator.batches.map((batch) => batch.messages);
    expect(sizes.reduce((total, size) => total + size, 0)).toBe(25);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(15);
    expect(sizes.length).toBeLessThan(25);

    const requestsAfterFirstRun = emulator.received.length;
    const second = await cli('sync');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('unchanged 25');
    expect(emulator.received).toHaveLength(requestsAfterFirstRun);
  });

  it('sends only the changed records on the next run', async () => {
    await cli('sync');
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set plan = 'enterprise' where id = 4");
    const again = await cli('sync');
    expect(again.code).toBe(0);
    expect(emulator.identifies).toHaveLength(26);
    expect(emulator.identifies[25]).toMatchObject({ userId: '4', traits: { name: 'User 4', email: 'user4@example.com', country: 'US', plan: 'enterprise' } });
  });

  it('stops at once on a refused write key, commits nothing, and never shows the key', async () => {
    env.SEGMENT_WRITE_KEY = 'wk_live_wrong_key_0000';
    const result = await cli('sync');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('stopped');
    expect(result.stdout).toContain("Segment answered HTTP 401 Unauthorized: the write key was refused. Check the destination's writeKey");
    expect(emulator.messages).toEqual([]);
    expect(result.stdout + result.stderr).not.toContain('wk_live_wrong_key_0000');
    expect(stateBytes()).not.toContain('wk_live_wrong_key_0000');

    const plan = await cli('plan', '--json');
    expect(JSON.parse(plan.stdout).syncs[0].counts).toMatchObject({ added: 0, retry: 25, unchanged: 0 });
  });

  it('retries a 5xx by itself and confirms the batch once it is delivered', async () => {
    emulator.inject({ kind: 'status', status: 503, body: { error: 'upstream unavailable' } }, 1);
    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('sent 25');
    expect(emulator.received.map((request) => request.headers['x-retry-count'])).toContain('1');
    expect(emulator.identifies).toHaveLength(25);
    expect(emulator.duplicates).toBe(0);
  });

  it('waits out a 429 for its Retry-After, then delivers everything', async () => {
    emulator.inject({ kind: 'status', status: 429, body: { error: 'slow down' }, headers: { 'retry-after': '1' } }, 1);
    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.identifies).toHaveLength(25);
    const [limited, retried] = emulator.received.filter((request) => JSON.stringify(request.body).includes('"userId":"1"'));
    expect(retried.at - limited.at).toBeGreaterThanOrEqual(950);
    expect(retried.headers['x-retry-count']).toBe('1');
  });

  it('holds back a record whose message would exceed 32 KB as invalid, and sends the rest', async () => {
    sqliteExec(path.join(dir, 'warehouse.db'), `update users set name = '${'x'.repeat(40_000)}' where id = 5`);
    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('invalid 1');
    expect(emulator.identifies.map((message) => message.userId)).not.toContain('5');
    expect(emulator.identifies).toHaveLength(24);

    const plan = JSON.parse((await cli('plan', '--json')).stdout);
    expect(plan.syncs[0].counts).toMatchObject({ invalid: 1, unchanged: 24 });
    expect(plan.syncs[0].records).toEqual([
      expect.objectContaining({
        key: '5',
        class: 'invalid',
        reason: expect.stringMatching(
          /^\(payload\): the identify message would be 39\.\d KB; Segment accepts at most 32 KB per message\. The largest field is traits\.name \(39\.1 KB\): map fewer or shorter traits$/,
        ),
      }),
    ]);
  });

  it('never writes the write key to output or state', async () => {
    const sync = await cli('sync', '--json');
    const status = await cli('status');
    const validate = await cli('validate');
    for (const result of [sync, status, validate]) expect(result.stdout + result.stderr).not.toContain(WRITE_KEY);
    expect(stateBytes()).not.toContain(WRITE_KEY);
    expect(emulator.identifies).toHaveLength(25);
  });
});

/** An in-process workspace over CONFIG, a warehouse of `count` users and a running emulator; all gone when the test ends. */
async function segmentWorkspace(count: number) {
  const emulator = new SegmentEmulator([WRITE_KEY]);
  const host = await emulator.start();
  onTestFinished(() => emulator.stop());
  const dir = tempDir();
  sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(count));
  const workspace = workspaceFor(CONFIG, dir, { SEGMENT_WRITE_KEY: WRITE_KEY, SEGMENT_HOST: host });
  return { emulator, workspace, sync: workspace.syncNamed('users-to-segment') };
}

describe('committing only what Segment confirmed', () => {
  it('keeps the records of a batch that never got through out of state, and sends them on the next run', async () => {
    const { emulator, workspace, sync } = await segmentWorkspace(20);
    // The batch holding user 3 loses its connection on the try and on the one retry.
    const holdsUser3 = (request: { body: unknown }) => JSON.stringify(request.body).includes('"userId":"3"');
    emulator.inject({ kind: 'drop' }, 2, holdsUser3);

    const first = await runSync(workspace, sync);
    const lost = (emulator.received.find(holdsUser3)!.body as { batch: { userId: string }[] }).batch.map((message) => message.userId).sort();
    expect(lost).toContain('3');
    expect(first.outcome).toBe('partial');
    expect(first.counts).toMatchObject({ sent: 20 - lost.length, failed: lost.length });
    expect(first.rejections[0].reason).toMatch(/^could not deliver to Segment: fetch failed .*analytics-node gave up after its retries$/);

    const state = workspace.state.lookup(
      sync.name,
      users(20).map((row) => String(row.id)),
    );
    expect([...state.records.keys()].sort()).toEqual(
      users(20)
        .map((row) => String(row.id))
        .filter((key) => !lost.includes(key))
        .sort(),
    );
    expect([...state.rejections.keys()].sort()).toEqual(lost);

    const kept = emulator.identifies.length;
    const second = await runSync(workspace, sync);
    expect(second.outcome).toBe('success');
    expect(second.counts).toMatchObject({ retry: lost.length, sent: lost.length, unchanged: 20 - lost.length });
    expect(
      emulator.identifies
        .slice(kept)
        .map((message) => message.userId)
        .sort(),
    ).toEqual(lost);
    expect(workspace.state.lookup(sync.name, lost).records.size).toBe(lost.length);
  });
});

describe('a batch Segment refuses with 400', () => {
  it('rejects the records of that batch with the reason, commits the rest, and sends them again next run', async () => {
    const { emulator, workspace, sync } = await segmentWorkspace(20);
    emulator.inject({ kind: 'status', status: 400, body: { error: 'Bad Request' } }, 1);

    const first = await runSync(workspace, sync);
    const refused = (emulator.received[0].body as { batch: { userId: string }[] }).batch.map((message) => message.userId).sort();
    expect(emulator.received).toHaveLength(2); // a 400 is never retried by analytics-node
    expect(first.outcome).toBe('partial');
    expect(first.counts).toMatchObject({ rejected: refused.length, sent: 20 - refused.length, failed: 0 });
    expect(first.rejections[0].reason).toBe('Segment answered HTTP 400 Bad Request: the batch holding this record was refused (malformed, or over 500 KB)');
    expect([...workspace.state.lookup(sync.name, refused).rejections.values()].map((rejection) => rejection.status)).toEqual(refused.map(() => 400));

    const second = await runSync(workspace, sync);
    expect(second.counts).toMatchObject({ retry: refused.length, sent: refused.length });
    expect(emulator.identifies).toHaveLength(20);
  });
});

describe('the Segment emulator', () => {
  let emulator: SegmentEmulator;
  let url: string;
  beforeEach(async () => {
    emulator = new SegmentEmulator([WRITE_KEY]);
    url = await emulator.start();
  });
  afterEach(() => emulator.stop());

  const post = (pathname: string, body: Buffer | string, headers: Record<string, string> = {}) =>
    fetch(`${url}${pathname}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : new Uint8Array(body),
      headers: { 'content-type': 'application/json', ...headers },
    });
  const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

  it('accepts a gzip batch with the write key as the Basic auth user, and drops bad messages one by one', async () => {
    const body = gzipSync(
      JSON.stringify({
        batch: [
          { type: 'identify', userId: 'u1', traits: { a: 1 } },
          { type: 'identify', traits: {} },
        ],
      }),
    );
    const response = await post('/v1/batch', body, { 'content-encoding': 'gzip', authorization: basic(WRITE_KEY) });
    expect(response.status).toBe(200);
    expect(emulator.identifies).toEqual([{ type: 'identify', userId: 'u1', traits: { a: 1 } }]);
    expect(emulator.dropped).toEqual([{ message: { type: 'identify', traits: {} }, reason: 'needs a userId or an anonymousId' }]);
  });

  it('refuses a wrong or missing write key with 401', async () => {
    expect((await post('/v1/batch', JSON.stringify({ batch: [], writeKey: 'nope' }))).status).toBe(401);
    expect((await post('/v1/identify', JSON.stringify({ userId: 'u1' }))).status).toBe(401);
    expect((await post('/v1/identify', JSON.stringify({ userId: 'u1' }), { authorization: basic('nope') })).status).toBe(401);
  });

  it('refuses a message over 32 KB and a request over 500 KB with 400, keeping nothing', async () => {
    const big = { type: 'identify', userId: 'u1', traits: { blob: 'x'.repeat(33 * 1024) } };
    expect((await post('/v1/batch', JSON.stringify({ writeKey: WRITE_KEY, batch: [big] }))).status).toBe(400);
    const many = Array.from({ length: 20 }, (_, index) => ({ type: 'identify', userId: `u${index}`, traits: { blob: 'x'.repeat(30 * 1024) } }));
    expect((await post('/v1/batch', JSON.stringify({ writeKey: WRITE_KEY, batch: many }))).status).toBe(400);
    expect((await post('/v1/batch', '{not json', { authorization: basic(WRITE_KEY) })).status).toBe(400);
    expect(emulator.messages).toEqual([]);
  });

  it('keeps one copy of a repeated messageId', async () => {
    const message = { type: 'identify', userId: 'u1', messageId: 'm-1' };
    await post('/v1/batch', JSON.stringify({ writeKey: WRITE_KEY, batch: [message, message] }));
    expect(emulator.identifies).toHaveLength(1);
    expect(emulator.duplicates).toBe(1);
  });
});
