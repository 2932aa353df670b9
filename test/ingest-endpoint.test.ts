// The Segment-compatible endpoint over raw HTTP: authentication, every kind of bad input, gzip,
// messageId deduplication, and how events merge into the profiles a sync reads.
import Database from 'better-sqlite3';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import net from 'node:net';
import { beforeEach, describe, expect, it } from 'vitest';
import type { IngestOutcome } from '../src/ingest/index.js';
import { tempDir } from './helpers/index.js';
import { ingestFor, NO_SYNCS, post, readProfiles, segmentConfig, storePath, WRITE_KEY } from './helpers/segment.js';

let dir: string;
let url: string;
let loaded: Awaited<ReturnType<typeof ingestFor>>['loaded'];
let outcomes: { outcome: IngestOutcome; reason?: string; message?: string }[];

beforeEach(async () => {
  dir = tempDir();
  outcomes = [];
  ({ url, loaded } = await ingestFor(segmentConfig(dir, NO_SYNCS), (outcome, reason, message) => outcomes.push({ outcome, reason, message })));
});

const storedMessageIds = () => {
  const db = new Database(storePath(dir), { readonly: true });
  try {
    return (db.prepare('select message_id from events order by message_id').all() as { message_id: string }[]).map((row) => row.message_id);
  } finally {
    db.close();
  }
};

const identify = (userId: string, traits: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({ type: 'identify', userId, traits, ...extra });

describe('authentication by write key', () => {
  it('accepts the key as Basic-auth user with or without the colon, or as writeKey in the body', async () => {
    expect(await post(url, '/v1/identify', identify('u-colon', { a: 1 }), { auth: `${WRITE_KEY}:` })).toEqual({ status: 200, body: { success: true } });
    expect((await post(url, '/v1/identify', identify('u-bare', { a: 1 }), { auth: WRITE_KEY })).status).toBe(200);
    expect((await post(url, '/v1/identify', { ...identify('u-body', { a: 1 }), writeKey: WRITE_KEY }, { auth: null })).status).toBe(200);
    expect([...(await readProfiles(loaded)).keys()].sort()).toEqual(['u-bare', 'u-body', 'u-colon']);
  });

  it('answers 401 to a wrong or missing key, stores nothing, and never echoes the key', async () => {
    const wrongHeader = await post(url, '/v1/identify', identify('u1', {}), { auth: 'wk_wrong_key:' });
    expect(wrongHeader).toEqual({
      status: 401,
      body: { success: false, error: "unknown write key in the Authorization header: use a key listed in the source's writeKeys" },
    });
    const wrongBody = await post(url, '/v1/batch', { writeKey: 'wk_wrong_key', batch: [identify('u1', {})] }, { auth: null });
    expect(wrongBody.status).toBe(401);
    expect(wrongBody.body.error).toBe("unknown write key in the body: use a key listed in the source's writeKeys");
    const missing = await post(url, '/v1/identify', identify('u1', {}), { auth: null });
    expect(missing).toEqual({ status: 401, body: { success: false, error: 'no write key: send it as the Basic-auth user name or as writeKey in the body' } });
    expect(JSON.stringify([wrongHeader, wrongBody, missing])).not.toContain('wk_wrong_key');
    expect(storedMessageIds()).toEqual([]);
  });

  it('never stores the write key sent in a body', async () => {
    await post(url, '/v1/track', { userId: 'u1', event: 'Opened', messageId: 'm-key', writeKey: WRITE_KEY }, { auth: null });
    const db = new Database(storePath(dir), { readonly: true });
    const body = (db.prepare('select body from events').get() as { body: string }).body;
    db.close();
    expect(JSON.parse(body)).toEqual({ userId: 'u1', event: 'Opened', messageId: 'm-key', type: 'track' });
  });
});

describe('bad input gets a clear 400', () => {
  it('refuses malformed JSON, a body that is not an object, and a gzip header over plain text', async () => {
    const malformed = await post(url, '/v1/batch', '{"batch": [', { raw: true });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatch(/^the body is not valid JSON: /);
    expect(await post(url, '/v1/track', [1, 2], {})).toEqual({ status: 400, body: { success: false, error: 'the body must be a JSON object' } });
    const notGzip = await post(url, '/v1/track', { userId: 'u', event: 'e' }, { headers: { 'Content-Encoding': 'gzip' } });
    expect(notGzip.status).toBe(400);
    expect(notGzip.body.error).toMatch(/^the body is not valid gzip although Content-Encoding says gzip/);
    expect(storedMessageIds()).toEqual([]);
  });

  it('refuses a request over 500 KB whole, before or after gunzip', async () => {
    const big = {
      batch: Array.from({ length: 20 }, (_, index) => ({ type: 'track', userId: `u${index}`, event: 'Big', properties: { blob: 'x'.repeat(30_000) } })),
    };
    const plain = await post(url, '/v1/batch', big);
    expect(plain.status).toBe(400);
    expect(plain.body.error).toMatch(/^the request body is \d+ bytes: at most 512000 bytes \(500 KB\) per request; send fewer messages per batch$/);
    const zipped = await post(url, '/v1/batch', big, { gzip: true });
    expect(zipped).toEqual({
      status: 400,
      body: {
        success: false,
        error: 'the request body is over the limit once gunzipped: at most 512000 bytes (500 KB) per request; send fewer messages per batch',
      },
    });
    expect(storedMessageIds()).toEqual([]);
  });

  it('refuses each bad message of a batch by index and stores the others', async () => {
    const answer = await post(url, '/v1/batch', {
      batch: [
        { type: 'identify', userId: 'good-1', traits: { plan: 'pro' }, messageId: 'ok-1' },
        { type: 'track', userId: 'u', event: 'Huge', messageId: 'too-big', properties: { blob: 'x'.repeat(33_000) } },
        { type: 'track', event: 'Nobody', messageId: 'no-ids' },
        { type: 'purchase', userId: 'u', messageId: 'bad-type' },
        { type: 'track', userId: 'u', messageId: 'no-event' },
        { type: 'track', userId: 'u', event: 'Late', timestamp: 'yesterday', messageId: 'bad-time' },
        { type: 'track', userId: 'u', event: 'Long', messageId: 'm'.repeat(101) },
        'not an object',
        { type: 'group', userId: 'u', messageId: 'no-group' },
        { type: 'alias', userId: 'u', messageId: 'no-previous' },
        { type: 'track', userId: 'good-2', event: 'Signed Up', messageId: 'ok-2' },
      ],
    });
    expect(answer.status).toBe(400);
    expect(answer.body.accepted).toBe(2);
    expect(answer.body.rejected).toEqual([
      { index: 1, messageId: 'too-big', reason: expect.stringMatching(/^the message is \d+ bytes: at most 32768 \(32 KB\) per message$/) },
      { index: 2, messageId: 'no-ids', reason: 'track needs userId or anonymousId: a message must say who it is about' },
      { index: 3, messageId: 'bad-type', reason: 'unknown type "purchase": expected one of identify, track, page, screen, group, alias' },
      { index: 4, messageId: 'no-event', reason: 'track needs event: the event name, a non-empty string' },
      { index: 5, messageId: 'bad-time', reason: 'timestamp: must be an ISO-8601 date, e.g. 2026-01-31T12:00:00Z' },
      { index: 6, messageId: 'm'.repeat(101), reason: 'messageId: must be at most 100 characters' },
      { index: 7, reason: 'a message must be a JSON object' },
      { index: 8, messageId: 'no-group', reason: 'group needs groupId' },
      { index: 9, messageId: 'no-previous', reason: 'alias needs previousId (the earlier id to link to userId)' },
    ]);
    expect(answer.body.error).toMatch(/^9 of 11 messages refused, 2 stored; message 1 \(too-big\): the message is \d+ bytes/);
    expect(storedMessageIds()).toEqual(['ok-1', 'ok-2']);
    expect(outcomes.filter((entry) => entry.outcome === 'accepted')).toHaveLength(2);
    expect(outcomes.filter((entry) => entry.outcome === 'refused')).toHaveLength(9);
    // The metrics label is a fixed word; the sentence (with the byte count) stays in the message.
    expect(outcomes.filter((entry) => entry.outcome === 'refused').map((entry) => entry.reason)).toEqual([
      'message_too_large',
      ...Array<string>(8).fill('invalid_message'),
    ]);
  });

  it('refuses a single-message call without an id, and an over-long batch or one without batch', async () => {
    expect(await post(url, '/v1/identify', { traits: { email: 'a@example.com' } })).toEqual({
      status: 400,
      body: { success: false, error: 'identify needs userId or anonymousId: a message must say who it is about' },
    });
    const tooMany = await post(url, '/v1/batch', { batch: Array.from({ length: 2501 }, (_, index) => ({ type: 'page', userId: `u${index}` })) });
    expect(tooMany).toEqual({ status: 400, body: { success: false, error: 'the batch has 2501 messages: at most 2500 per request' } });
    expect(await post(url, '/v1/batch', { messages: [] })).toEqual({
      status: 400,
      body: { success: false, error: 'a batch request needs batch: an array of messages' },
    });
    expect(storedMessageIds()).toEqual([]);
  });

  it('answers 404 to an unknown path and 405 to a GET', async () => {
    const unknown = await post(url, '/v1/purchase', { userId: 'u' });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error).toBe('no endpoint /v1/purchase: POST to /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/group, /v1/alias or /v1/batch');
    const get = await fetch(`${url}/v1/track`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST, OPTIONS');
  });
});

describe('a client that disconnects mid-request', () => {
  it('costs only that request: the endpoint keeps serving', async () => {
    const { port } = new URL(url);
    // Disconnect once the server has the request and is reading its body.
    const started = new Promise<void>((resolve) => {
      const onStart = () => {
        diagnostics.unsubscribe('http.server.request.start', onStart);
        resolve();
      };
      diagnostics.subscribe('http.server.request.start', onStart);
    });
    const socket = net.connect(Number(port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"batch": [`);
    await started;
    socket.destroy();
    await once(socket, 'close');
    expect((await post(url, '/v1/identify', identify('after-abort', { ok: true }))).status).toBe(200);
    expect((await readProfiles(loaded)).get('after-abort')?.traits).toEqual({ ok: true });
    expect(outcomes).toContainEqual({ outcome: 'refused', reason: 'request_failed', message: 'the request failed: aborted' });
  });
});

describe('what clients send', () => {
  it('accepts a gzip-encoded batch and the legacy /v1/import path', async () => {
    expect(await post(url, '/v1/batch', { batch: [identify('zipped', { plan: 'pro' })] }, { gzip: true })).toEqual({ status: 200, body: { success: true } });
    expect((await post(url, '/v1/import', { batch: [identify('imported', { plan: 'free' })] })).status).toBe(200);
    const profiles = await readProfiles(loaded);
    expect(profiles.get('zipped')?.traits).toEqual({ plan: 'pro' });
    expect(profiles.get('imported')?.traits).toEqual({ plan: 'free' });
  });

  it('corrects clock skew from originalTimestamp and sentAt, and keeps an explicit timestamp', async () => {
    const clientClock = Date.now() + 3_600_000; // the device is an hour ahead
    const before = Date.now();
    await post(url, '/v1/batch', {
      sentAt: new Date(clientClock).toISOString(),
      batch: [{ type: 'track', userId: 'skewed', event: 'Clicked', originalTimestamp: new Date(clientClock - 60_000).toISOString() }],
    });
    const after = Date.now();
    await post(url, '/v1/track', { userId: 'historic', event: 'Imported', timestamp: '2020-05-01T10:00:00.000Z', sentAt: new Date().toISOString() });
    const profiles = await readProfiles(loaded);
    const seen = Date.parse(profiles.get('skewed')!.lastSeenAt as string);
    expect(seen).toBeGreaterThanOrEqual(before - 60_000);
    expect(seen).toBeLessThanOrEqual(after - 60_000);
    expect(profiles.get('historic')!.firstSeenAt).toBe('2020-05-01T10:00:00.000Z');
  });
});

describe('deduplication by messageId', () => {
  it('stores a retried delivery once and still answers 200', async () => {
    const batch = {
      batch: [
        { type: 'track', userId: 'u1', event: 'Paid', messageId: 'msg-1' },
        { type: 'track', userId: 'u1', event: 'Paid', messageId: 'msg-2' },
      ],
    };
    expect((await post(url, '/v1/batch', batch)).status).toBe(200);
    expect((await post(url, '/v1/batch', batch)).status).toBe(200);
    expect((await post(url, '/v1/track', { userId: 'u1', event: 'Paid', messageId: 'msg-1' })).status).toBe(200);
    expect(storedMessageIds()).toEqual(['msg-1', 'msg-2']);
    expect((await readProfiles(loaded)).get('u1')).toMatchObject({ eventCount: 2, eventCounts: { Paid: 2 } });
    expect(outcomes.filter((entry) => entry.reason === 'duplicate')).toHaveLength(3);
  });
});

describe('profiles', () => {
  it('merges identify traits per key, and an older event never overwrites a newer trait', async () => {
    await post(url, '/v1/identify', identify('u1', { email: 'new@example.com', plan: 'pro' }, { timestamp: '2026-03-02T00:00:00.000Z' }));
    await post(url, '/v1/identify', identify('u1', { email: 'old@example.com', name: 'Ada' }, { timestamp: '2026-03-01T00:00:00.000Z' }));
    await post(url, '/v1/identify', identify('u1', { plan: 'enterprise' }, { timestamp: '2026-03-03T00:00:00.000Z' }));
    expect((await readProfiles(loaded)).get('u1')).toEqual({
      userId: 'u1',
      anonymousIds: [],
      traits: { email: 'new@example.com', plan: 'enterprise', name: 'Ada' },
      groupId: null,
      group: null,
      firstSeenAt: '2026-03-01T00:00:00.000Z',
      lastSeenAt: '2026-03-03T00:00:00.000Z',
      eventCount: 0,
      eventCounts: {},
      changeSeq: expect.any(Number),
    });
  });

  it('folds anonymous activity into the user once alias or identify links the ids', async () => {
    await post(url, '/v1/batch', {
      batch: [
        { type: 'page', anonymousId: 'anon-a', name: 'Pricing', timestamp: '2026-01-01T00:00:00.000Z' },
        { type: 'track', anonymousId: 'anon-a', event: 'Trial Started', timestamp: '2026-01-01T00:01:00.000Z' },
        { type: 'identify', anonymousId: 'anon-a', traits: { referrer: 'ads' }, timestamp: '2026-01-01T00:02:00.000Z' },
        { type: 'track', anonymousId: 'anon-b', event: 'Trial Started', timestamp: '2026-01-02T00:00:00.000Z' },
      ],
    });
    expect((await readProfiles(loaded)).size).toBe(0); // anonymous profiles are not rows
    await post(url, '/v1/alias', { previousId: 'anon-a', userId: 'u1', timestamp: '2026-01-03T00:00:00.000Z' });
    await post(url, '/v1/identify', identify('u1', { email: 'u1@example.com' }, { anonymousId: 'anon-b', timestamp: '2026-01-04T00:00:00.000Z' }));
    await post(url, '/v1/track', { anonymousId: 'anon-b', event: 'Upgraded', timestamp: '2026-01-05T00:00:00.000Z' });
    expect((await readProfiles(loaded)).get('u1')).toMatchObject({
      anonymousIds: ['anon-a', 'anon-b'],
      traits: { referrer: 'ads', email: 'u1@example.com' },
      firstSeenAt: '2026-01-01T00:00:00.000Z',
      lastSeenAt: '2026-01-05T00:00:00.000Z',
      eventCount: 3,
      eventCounts: { 'Trial Started': 2, Upgraded: 1 },
    });
  });

  it('attaches the group and its traits, and a change to the group re-reads every member', async () => {
    await post(url, '/v1/batch', {
      batch: [
        identify('u1', { name: 'One' }),
        identify('u2', { name: 'Two' }),
        { type: 'group', userId: 'u1', groupId: 'acme', traits: { name: 'Acme', plan: 'pro' }, timestamp: '2026-02-01T00:00:00.000Z' },
        { type: 'group', userId: 'u2', groupId: 'acme', timestamp: '2026-02-01T00:00:00.000Z' },
      ],
    });
    const first = await readProfiles(loaded);
    expect(first.get('u2')).toMatchObject({ groupId: 'acme', group: { name: 'Acme', plan: 'pro' } });
    const cursor = Math.max(...[...first.values()].map((row) => row.changeSeq as number));

    await post(url, '/v1/identify', identify('u3', { name: 'Three' }));
    await post(url, '/v1/group', { userId: 'u1', groupId: 'acme', traits: { plan: 'enterprise' }, timestamp: '2026-02-02T00:00:00.000Z' });
    const changed = await readProfiles(loaded, cursor);
    expect([...changed.keys()].sort()).toEqual(['u1', 'u2', 'u3']);
    expect(changed.get('u2')!.group).toEqual({ name: 'Acme', plan: 'enterprise' });

    // Resending the same group traits changes nothing a reader sees.
    const unchangedCursor = Math.max(...[...changed.values()].map((row) => row.changeSeq as number));
    await post(url, '/v1/group', { userId: 'u1', groupId: 'acme', traits: { plan: 'enterprise' }, timestamp: '2026-02-01T12:00:00.000Z' });
    expect((await readProfiles(loaded, unchangedCursor)).size).toBe(0);
  });
});
