// The real analytics.js (@segment/analytics-next, bundled for the browser by esbuild) in a real
// headless Chromium, on a page served from another 127.0.0.1 port than the ingest: its identify,
// track, page and group calls pass the CORS preflight, are stored once and sync to the GamifyHost
// emulator; a page on an origin not listed gets no CORS headers and stores nothing; an overloaded
// endpoint's 429 and Retry-After are readable by the page, and analytics.js delivers once it clears.
// Nothing leaves 127.0.0.1: analytics.js gets its settings inline (no CDN) and Chromium resolves no
// other host.
import { build } from 'esbuild';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { MAX_PENDING_REQUESTS } from '../src/ingest/limits.js';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { REPO, runCli, sqliteRows, tempDir } from './helpers/index.js';
import { holdRequests, ingestFor, onRequestTo, segmentConfig, storePath, WRITE_KEY } from './helpers/segment.js';

const CHROMIUM = '/usr/bin/chromium';
const missing = fs.existsSync(CHROMIUM)
  ? undefined
  : `${CHROMIUM} is missing, so the real analytics.js cannot run in a browser: install Debian's chromium (apt-get install -y chromium; .ci/run does)`;

const SYNCS = `destinations:
  gamify:
    type: gamifyhost
    apiKey: pk_test_browser_key
    baseUrl: \${GAMIFY_URL}
    retry: { attempts: 2, baseDelayMs: 10 }
syncs:
  - name: web-users
    source: events
    destination: gamify
    mapping:
      externalId: userId
      displayName: traits.name
      email: traits.email
      country: { column: traits.country, transform: upper }
      tags.plan: group.plan
      metadata.company: group.name
      metadata.orders: eventCounts.Order Completed
      metadata.events: eventCount
`;

/** A page that loads analytics.js with its settings inline (no CDN request) and Backflow as its API host. */
const pageHtml = (ingestUrl: string) => `<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title><script src="/analytics.js"></script></head>
<body><script>
  const writeKey = ${JSON.stringify(WRITE_KEY)};
  const segment = { apiKey: writeKey, apiHost: ${JSON.stringify(`${new URL(ingestUrl).host}/v1`)}, protocol: 'http' };
  window.analytics = AnalyticsBrowser.load(
    { writeKey, cdnURL: location.origin, cdnSettings: { integrations: { 'Segment.io': segment } } },
    { integrations: { 'Segment.io': segment } },
  );
</script></body></html>`;

interface Sent {
  type: string;
  messageId: string;
  failed: string | null;
}

/** Runs analytics.js calls in the page; each resolves once its delivery was attempted. */
function send(page: Page, calls: 'all' | 'track'): Promise<Sent[]> {
  return page.evaluate(async (which) => {
    const analytics = (window as unknown as { analytics: Record<string, (...args: unknown[]) => Promise<unknown>> }).analytics;
    const contexts = [];
    if (which === 'all') {
      contexts.push(await analytics.identify('u-ada', { name: 'Ada Lovelace', email: 'ada@example.com', country: 'gb' }));
      contexts.push(await analytics.group('acme', { name: 'Acme Corp', plan: 'enterprise' }));
      contexts.push(await analytics.page('Shop', 'Pricing'));
    }
    contexts.push(await analytics.track('Order Completed', { total: 40 }));
    return contexts.map((context) => {
      const ctx = context as { event: { type: string; messageId: string }; failedDelivery(): { reason: unknown } | undefined };
      const failure = ctx.failedDelivery();
      return { type: ctx.event.type, messageId: ctx.event.messageId, failed: failure ? String(failure.reason) : null };
    });
  }, calls);
}

const storedEvents = (dir: string) =>
  sqliteRows<{ message_id: string; type: string; user_id: string | null; anonymous_id: string | null }>(
    storePath(dir),
    'select message_id, type, user_id, anonymous_id from events order by id',
  );

if (missing && process.env.CI) {
  // CI must run the browser test: a missing Chromium there is a broken setup, not a skip.
  describe('analytics.js in Chromium', () => {
    it('needs Chromium', () => {
      throw new Error(missing);
    });
  });
}

describe.skipIf(missing)(missing ? `analytics.js in Chromium — SKIPPED: ${missing}` : 'the real analytics.js in headless Chromium', () => {
  let browser: Browser;
  let bundle: Uint8Array;
  let emulator: GamifyHostEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let ingestUrl: string;
  let listed: string;
  let unlisted: string;
  /** Every URL the browser requested: all must be on 127.0.0.1. */
  let requested: string[];
  let seen: { method: string; url: string; origin?: string; contentType?: string; authorization?: string }[];
  let accepted: number;
  let acceptedWaiters: { count: number; resolve: () => void }[];

  beforeAll(async () => {
    const built = await build({
      stdin: { contents: "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;", resolveDir: REPO },
      bundle: true,
      format: 'iife',
      platform: 'browser',
      target: 'chrome100',
      write: false,
      logLevel: 'error',
    });
    bundle = built.outputFiles[0].contents;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // No host but 127.0.0.1 resolves: the page cannot reach the internet even by mistake.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--no-first-run',
        '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    emulator = new GamifyHostEmulator(['pk_test_browser_key']);
    dir = tempDir();
    env = { GAMIFY_URL: await emulator.start() };
    onTestFinished(() => emulator.stop());
    accepted = 0;
    acceptedWaiters = [];
    const onEvent = (outcome: string) => {
      if (outcome !== 'accepted') return;
      accepted++;
      acceptedWaiters = acceptedWaiters.filter((waiter) => (accepted >= waiter.count ? (waiter.resolve(), false) : true));
    };
    // Two page servers, two origins: only the first is listed. Its port is known only once it listens,
    // so the config is written after it (the page learns the ingest address from its HTML).
    const pages = { html: '' };
    listed = await pageServer(pages);
    unlisted = await pageServer(pages);
    ({ url: ingestUrl } = await ingestFor(segmentConfig(dir, SYNCS, `    cors: { origins: ["${listed}"] }`), onEvent, env));
    pages.html = pageHtml(ingestUrl);
    seen = [];
    onTestFinished(
      onRequestTo(Number(new URL(ingestUrl).port), (request) =>
        seen.push({
          method: request.method ?? '',
          url: request.url ?? '',
          origin: request.headers.origin,
          contentType: request.headers['content-type'],
          authorization: request.headers.authorization,
        }),
      ),
    );
    requested = [];
  });

  /** Serves the page and the analytics.js bundle on 127.0.0.1, on a port (an origin) of its own. */
  async function pageServer(pages: { html: string }): Promise<string> {
    const server = http.createServer((req, res) => {
      if (req.url === '/analytics.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(bundle);
      else if (req.url === '/') res.writeHead(200, { 'Content-Type': 'text/html' }).end(pages.html);
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async function open(origin: string): Promise<Page> {
    const context = await browser.newContext();
    onTestFinished(() => context.close());
    const page = await context.newPage();
    page.on('request', (request) => requested.push(request.url()));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => typeof (window as unknown as { analytics?: unknown }).analytics === 'object');
    return page;
  }

  const acceptedAtLeast = (count: number) =>
    new Promise<void>((resolve) => {
      if (accepted >= count) resolve();
      else acceptedWaiters.push({ count, resolve });
    });

  const offLoopback = () => requested.filter((url) => new URL(url).hostname !== '127.0.0.1');

  it('delivers identify, group, page and track from a listed origin once each, and syncs the profile', async () => {
    const page = await open(listed);
    const sent = await send(page, 'all');
    expect(sent.map(({ type, failed }) => ({ type, failed }))).toEqual([
      { type: 'identify', failed: null },
      { type: 'group', failed: null },
      { type: 'page', failed: null },
      { type: 'track', failed: null },
    ]);

    // Stored once each, under the ids analytics.js gave them, with its anonymous id linked to the user.
    const events = storedEvents(dir);
    expect(events.map((event) => [event.message_id, event.type])).toEqual(sent.map((message) => [message.messageId, message.type]));
    expect(new Set(events.map((event) => event.user_id))).toEqual(new Set(['u-ada']));
    expect(events[0].anonymous_id).toMatch(/^[0-9a-f-]{36}$/);

    // What the browser really sent: a preflight per path, then text/plain with Basic auth from the page's origin.
    const posts = seen.filter((request) => request.method === 'POST');
    expect(posts.map((request) => request.url)).toEqual(['/v1/i', '/v1/g', '/v1/p', '/v1/t']);
    for (const post of posts) {
      expect(post).toMatchObject({ origin: listed, contentType: 'text/plain', authorization: `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}` });
    }
    expect(seen.filter((request) => request.method === 'OPTIONS').map((request) => request.url)).toEqual(['/v1/i', '/v1/g', '/v1/p', '/v1/t']);
    expect(offLoopback()).toEqual([]);

    const sync = await runCli(['--config', path.join(dir, 'backflow.yaml'), 'sync'], { env: { ...env, SEGMENT_WRITE_KEY: WRITE_KEY } });
    expect(sync.stderr).toBe('');
    expect(sync.code).toBe(0);
    expect(emulator.sentBodies).toEqual([
      {
        externalId: 'u-ada',
        displayName: 'Ada Lovelace',
        email: 'ada@example.com',
        country: 'GB',
        tags: { plan: 'enterprise' },
        metadata: { company: 'Acme Corp', orders: 1, events: 1 },
      },
    ]);
  });

  it('gives a page on an origin not listed no CORS headers: the browser never sends its events', async () => {
    const page = await open(unlisted);
    const failed = page.waitForEvent('requestfailed', (request) => request.url().startsWith(ingestUrl));
    const [sent] = await send(page, 'track');
    expect((await failed).failure()?.errorText).toBe('net::ERR_FAILED');
    expect(sent.type).toBe('track');

    const preflights = seen.filter((request) => request.method === 'OPTIONS');
    expect(preflights.length).toBeGreaterThan(0);
    expect(preflights.every((request) => request.origin === unlisted)).toBe(true);
    expect(seen.filter((request) => request.method === 'POST')).toEqual([]);
    expect(storedEvents(dir)).toEqual([]);
    expect(offLoopback()).toEqual([]);
  });

  it('lets the page read an overloaded endpoint’s 429 and Retry-After, and analytics.js delivers once it clears', async () => {
    const page = await open(listed);
    const held = await holdRequests(ingestUrl, MAX_PENDING_REQUESTS);

    const answer = await page.evaluate(async (url) => {
      const response = await fetch(`${url}/v1/t`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain', Authorization: `Basic ${btoa('unused:')}` },
        body: '{}',
      });
      return { status: response.status, retryAfter: response.headers.get('Retry-After'), body: await response.json() };
    }, ingestUrl);
    expect(answer).toEqual({
      status: 429,
      retryAfter: '1',
      body: { success: false, error: `the endpoint is overloaded (${MAX_PENDING_REQUESTS} requests in progress): nothing was stored; retry after 1 s` },
    });

    // analytics.js gets the same 429, keeps the event, and sends it again after Retry-After.
    const [sent] = await send(page, 'track');
    expect(sent.failed).toBeNull();
    expect(storedEvents(dir)).toEqual([]);
    await held.release();
    await acceptedAtLeast(1);
    expect(storedEvents(dir).map((event) => event.message_id)).toEqual([sent.messageId]);
    const tracks = seen.filter((request) => request.method === 'POST' && request.url === '/v1/t' && request.origin === listed);
    expect(tracks.length).toBeGreaterThanOrEqual(3); // the page's fetch, analytics.js's refused try, its retry
  });
});
