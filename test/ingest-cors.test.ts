// What browsers meet at the ingest endpoint, over raw HTTP: CORS preflights and headers for listed
// origins only, bad input from a page (each with its status, nothing stored), the cors and
// retention settings' checks, and an overloaded endpoint's 429 + Retry-After that the real
// analytics-node waits out before it delivers.
import { Analytics } from '@segment/analytics-node';
import Database from 'better-sqlite3';
import { beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { MAX_PENDING_EVENTS, MAX_PENDING_REQUESTS } from '../src/ingest/limits.js';
import { checkMessage } from '../src/ingest/messages.js';
import { EventStore, StoreOverloaded } from '../src/ingest/store.js';
import { tempDir, writeFile } from './helpers/index.js';
import { holdRequests, ingestFor, NO_SYNCS, segmentConfig, storePath, WRITE_KEY } from './helpers/segment.js';

const APP = 'https://app.example.com';
const OTHER = 'https://evil.example.net';
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

let dir: string;
let url: string;
let refusals: string[];
let onRefusal: (() => void) | undefined;

const stored = () => {
  const db = new Database(storePath(dir), { readonly: true });
  try {
    return (db.prepare('select message_id from events order by id').all() as { message_id: string }[]).map((row) => row.message_id);
  } finally {
    db.close();
  }
};

/** The Access-Control-* and Vary headers of an answer. */
const corsHeaders = (response: Response) => Object.fromEntries([...response.headers].filter(([name]) => name.startsWith('access-control-') || name === 'vary'));

const preflight = (path: string, origin: string, target = url) =>
  fetch(`${target}${path}`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' },
  });

/** A POST as analytics.js makes it: text/plain, the key as Basic auth and in the body. */
const browserPost = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { Origin: APP, 'Content-Type': 'text/plain', Authorization: basic(WRITE_KEY), ...headers },
    body,
    signal: AbortSignal.timeout(10_000),
  });

beforeEach(async () => {
  dir = tempDir();
  refusals = [];
  ({ url } = await ingestFor(segmentConfig(dir, NO_SYNCS, `    cors: { origins: ["${APP}", "http://127.0.0.1:3000/"] }`), (outcome, reason) => {
    if (outcome !== 'refused') return;
    refusals.push(reason ?? '');
    onRefusal?.();
  }));
});

describe('CORS for listed origins only', () => {
  it('answers a listed origin’s preflight with the headers analytics.js needs', async () => {
    const answer = await preflight('/v1/t', APP);
    expect(answer.status).toBe(204);
    expect(corsHeaders(answer)).toEqual({
      'access-control-allow-origin': APP,
      'access-control-allow-methods': 'POST',
      'access-control-allow-headers': 'Content-Type, Authorization, X-Retry-Count, Content-Encoding',
      'access-control-max-age': '7200',
      vary: 'Origin',
    });
    // An origin written with a trailing slash matches what browsers send.
    expect((await preflight('/v1/batch', 'http://127.0.0.1:3000')).headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:3000');
  });

  it('refuses the preflight of an origin not listed, with no CORS header, and says where to list it', async () => {
    const answer = await preflight('/v1/t', OTHER);
    expect(answer.status).toBe(403);
    expect(corsHeaders(answer)).toEqual({ vary: 'Origin' });
    expect(await answer.json()).toEqual({
      success: false,
      error: `CORS preflight for /v1/t from ${OTHER} refused: that origin is not listed in sources.events.cors.origins; add it to let its pages post events`,
    });
  });

  it('answers 404 to a preflight for a path that does not exist, so the browser sends nothing', async () => {
    const answer = await preflight('/v1/purchase', APP);
    expect(answer.status).toBe(404);
    expect(answer.headers.get('access-control-allow-methods')).toBeNull();
    expect(answer.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers a plain OPTIONS (no preflight) with the allowed methods', async () => {
    const answer = await fetch(`${url}/v1/track`, { method: 'OPTIONS' });
    expect(answer.status).toBe(204);
    expect(answer.headers.get('allow')).toBe('POST, OPTIONS');
  });

  it('adds the CORS headers to every answer to a listed origin, Retry-After readable; none for another origin', async () => {
    const ok = await browserPost('/v1/t', JSON.stringify({ userId: 'u1', event: 'Clicked', messageId: 'm-app' }));
    expect(ok.status).toBe(200);
    expect(corsHeaders(ok)).toEqual({ 'access-control-allow-origin': APP, 'access-control-expose-headers': 'Retry-After', vary: 'Origin' });
    const refused = await browserPost('/v1/t', '{"userId": ', {});
    expect(refused.status).toBe(400);
    expect(refused.headers.get('access-control-allow-origin')).toBe(APP);

    // A request from another origin is still served (a same-origin proxy sends Origin too), without CORS headers.
    const other = await browserPost('/v1/t', JSON.stringify({ userId: 'u1', event: 'Clicked', messageId: 'm-other' }), { Origin: OTHER });
    expect(other.status).toBe(200);
    expect(corsHeaders(other)).toEqual({ vary: 'Origin' });
    // Server SDKs send no Origin: no CORS headers at all.
    const server = await fetch(`${url}/v1/t`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: basic(WRITE_KEY) },
      body: JSON.stringify({ userId: 'u1', event: 'Clicked', messageId: 'm-server' }),
    });
    expect(server.status).toBe(200);
    expect(corsHeaders(server)).toEqual({ vary: 'Origin' });
    expect(stored()).toEqual(['m-app', 'm-other', 'm-server']);
  });

  it('allows every origin with "*", and none without cors', async () => {
    const any = tempDir();
    const { url: anyUrl } = await ingestFor(segmentConfig(any, NO_SYNCS, '    cors: { origins: ["*"] }'));
    expect((await preflight('/v1/b', OTHER, anyUrl)).headers.get('access-control-allow-origin')).toBe(OTHER);
    const none = tempDir();
    const { url: noneUrl } = await ingestFor(segmentConfig(none, NO_SYNCS));
    const refused = await preflight('/v1/b', APP, noneUrl);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('bad input from a browser: the right status, nothing stored', () => {
  it('refuses an oversize body, a form upload, malformed JSON and a missing write key', async () => {
    const oversize = await browserPost('/v1/b', JSON.stringify({ batch: [{ type: 'track', userId: 'u', event: 'Big', blob: 'x'.repeat(600_000) }] }));
    expect(oversize.status).toBe(400);
    expect((await oversize.json()).error).toMatch(/^the request body is \d+ bytes: at most 512000 bytes \(500 KB\) per request/);

    const form = await browserPost('/v1/t', '--x\r\nContent-Disposition: form-data; name="userId"\r\n\r\nu1\r\n--x--', {
      'Content-Type': 'multipart/form-data; boundary=x',
    });
    expect(form.status).toBe(415);
    expect(await form.json()).toEqual({
      success: false,
      error: 'Content-Type multipart/form-data is not accepted: send the JSON body as application/json (or text/plain, as analytics.js does)',
    });
    expect(form.headers.get('access-control-allow-origin')).toBe(APP);

    const malformed = await browserPost('/v1/t', '{"userId": "u1", "event": ');
    expect(malformed.status).toBe(400);
    expect((await malformed.json()).error).toMatch(/^the body is not valid JSON: /);

    const keyless = await fetch(`${url}/v1/t`, {
      method: 'POST',
      headers: { Origin: APP, 'Content-Type': 'text/plain' },
      body: JSON.stringify({ userId: 'u1', event: 'Clicked' }),
    });
    expect(keyless.status).toBe(401);
    expect(keyless.headers.get('access-control-allow-origin')).toBe(APP);
    expect(stored()).toEqual([]);
  });

  it('refuses the write key of another segment source, in the header or the body', async () => {
    const both = tempDir();
    const file = writeFile(
      both,
      'backflow.yaml',
      `version: 1
sources:
  events: { type: segment, listen: "127.0.0.1:0", writeKeys: ["\${SEGMENT_WRITE_KEY}"], store: ./events.db, cors: { origins: ["${APP}"] } }
  shop: { type: segment, listen: "127.0.0.1:0", writeKeys: ["wk_shop_only_key"], store: ./shop.db }
${NO_SYNCS}`,
    );
    const { url: eventsUrl } = await ingestFor(file);
    const inHeader = await fetch(`${eventsUrl}/v1/t`, {
      method: 'POST',
      headers: { Origin: APP, 'Content-Type': 'text/plain', Authorization: basic('wk_shop_only_key') },
      body: JSON.stringify({ userId: 'u1', event: 'Clicked' }),
    });
    expect(inHeader.status).toBe(401);
    const inBody = await fetch(`${eventsUrl}/v1/t`, {
      method: 'POST',
      headers: { Origin: APP, 'Content-Type': 'text/plain' },
      body: JSON.stringify({ userId: 'u1', event: 'Clicked', writeKey: 'wk_shop_only_key' }),
    });
    expect(inBody.status).toBe(401);
    expect(await inBody.json()).toEqual({ success: false, error: "unknown write key in the body: use a key listed in the source's writeKeys" });
    const db = new Database(`${both}/events.db`, { readonly: true });
    expect(db.prepare('select count(*) as n from events').get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('the cors and retention settings', () => {
  const configErrors = (source: string) => {
    const scratch = tempDir();
    const file = writeFile(scratch, 'backflow.yaml', `version: 1\nsources:\n  events: { type: segment, writeKeys: [k], ${source} }\n${NO_SYNCS}`);
    try {
      loadConfig(file, {});
      return [];
    } catch (error) {
      return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
    }
  };

  it('names an origin with a path, a non-web scheme, an empty list and a bad duration', () => {
    expect(configErrors('cors: { origins: ["https://app.example.com/shop", "ftp://files.example.com"] }, retention: forever')).toEqual([
      'sources.events.cors.origins[0]: "https://app.example.com/shop" is not a web origin: write scheme://host[:port] with no path, e.g. https://app.example.com',
      'sources.events.cors.origins[1]: "ftp://files.example.com" is not a web origin: write scheme://host[:port] with no path, e.g. https://app.example.com',
      'sources.events.retention: "forever" is not a duration: write a whole number and a unit, e.g. 30d, 12h, 45m',
    ]);
    expect(configErrors('cors: { origins: [] }, retention: 0d')).toEqual([
      'sources.events.cors.origins: list at least one origin, e.g. https://app.example.com',
      'sources.events.retention: "0d" is not a duration: write a whole number and a unit, e.g. 30d, 12h, 45m',
    ]);
    for (const retention of ['90d', '12h', '45m']) expect(configErrors(`retention: ${retention}`)).toEqual([]);
  });
});

describe('an overloaded endpoint', () => {
  it(`answers 429 with Retry-After past ${MAX_PENDING_REQUESTS} requests in progress; analytics-node waits and delivers once`, async () => {
    const held = await holdRequests(url, MAX_PENDING_REQUESTS);
    const refused = await browserPost('/v1/t', JSON.stringify({ userId: 'u1', event: 'Clicked', messageId: 'm-refused' }));
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(stored()).toEqual([]);

    const analytics = new Analytics({ writeKey: WRITE_KEY, host: url, flushAt: 2, flushInterval: 20, maxRetries: 3 });
    const errors: unknown[] = [];
    analytics.on('error', (error) => errors.push(error));
    // The client's first try is refused too (the second overload refusal): then the slots free up.
    const rateLimited = new Promise<void>((resolve) => {
      onRefusal = () => {
        if (refusals.filter((reason) => reason === 'overloaded').length >= 2) resolve();
      };
    });
    analytics.track({ userId: 'u1', event: 'Clicked', messageId: 'm-node-1' });
    analytics.track({ userId: 'u1', event: 'Clicked', messageId: 'm-node-2' });
    await rateLimited;
    await held.release();
    await analytics.closeAndFlush({ timeout: 20_000 });
    expect(errors).toEqual([]);
    expect(stored()).toEqual(['m-node-1', 'm-node-2']);
  });

  it(`refuses a write past ${MAX_PENDING_EVENTS} events waiting for one commit, storing none of it`, async () => {
    const store = new EventStore(`${tempDir()}/events.db`);
    const events = (prefix: string, count: number) =>
      Array.from({ length: count }, (_, index) => {
        const check = checkMessage({ type: 'track', userId: 'u', event: 'E', messageId: `${prefix}-${index}` }, { receivedAt: new Date() });
        if (!check.ok) throw new Error(check.reason);
        return check.event;
      });
    const first = store.write(events('a', MAX_PENDING_EVENTS - 1));
    const tooMany = store.write(events('b', 2));
    const fits = store.write(events('c', 1));
    await expect(tooMany).rejects.toBeInstanceOf(StoreOverloaded);
    expect(await first).toHaveLength(MAX_PENDING_EVENTS - 1);
    expect(await fits).toEqual(['stored']);
    // Once committed, the queue is empty again.
    expect(await store.write(events('b', 2))).toEqual(['stored', 'stored']);
    store.close();
  });
});
