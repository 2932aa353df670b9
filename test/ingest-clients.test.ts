// End to end with the real clients: @segment/analytics-node and @rudderstack/rudder-sdk-node send
// events to backflow ingest unchanged; the profiles they build sync to the GamifyHost emulator, and
// plan shows the field diff when more events change them.
import { Analytics } from '@segment/analytics-node';
import Rudder from '@rudderstack/rudder-sdk-node';
import diagnostics from 'node:diagnostics_channel';
import type http from 'node:http';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { runCli, tempDir } from './helpers/index.js';
import { ingestFor, segmentConfig, WRITE_KEY } from './helpers/segment.js';

const SYNCS = `destinations:
  gamify:
    type: gamifyhost
    apiKey: pk_test_clients_key
    baseUrl: \${GAMIFY_URL}
    rateLimit: { requestsPerSecond: 200 }
    retry: { attempts: 2, baseDelayMs: 10 }
syncs:
  - name: app-users
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

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

describe('real Segment clients pointed at backflow ingest', () => {
  let emulator: GamifyHostEmulator;
  let dir: string;
  let url: string;
  let env: NodeJS.ProcessEnv;
  const seen: Seen[] = [];
  // Node announces every request its HTTP servers receive: this reads what the clients really sent.
  const onRequest = (message: unknown) => {
    const { request } = message as { request: http.IncomingMessage };
    seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers });
  };

  beforeEach(async () => {
    seen.length = 0;
    diagnostics.subscribe('http.server.request.start', onRequest);
    emulator = new GamifyHostEmulator(['pk_test_clients_key']);
    dir = tempDir();
    env = { SEGMENT_WRITE_KEY: WRITE_KEY, GAMIFY_URL: await emulator.start() };
    ({ url } = await ingestFor(segmentConfig(dir, SYNCS), undefined, env));
  });
  afterEach(async () => {
    diagnostics.unsubscribe('http.server.request.start', onRequest);
    await emulator.stop();
  });

  const cli = (...args: string[]) => runCli(['--config', path.join(dir, 'backflow.yaml'), ...args], { env });
  const ingestRequests = () => seen.filter((request) => request.url.startsWith('/v1/'));

  async function sendWithAnalyticsNode(send: (analytics: Analytics) => void): Promise<void> {
    const analytics = new Analytics({ writeKey: WRITE_KEY, host: url, flushAt: 20, flushInterval: 20, maxRetries: 0 });
    const errors: unknown[] = [];
    analytics.on('error', (error) => errors.push(error));
    send(analytics);
    await analytics.closeAndFlush(); // it gives up only after 75 s: a hang, never a busy machine
    expect(errors).toEqual([]);
  }

  it('turns their identify, group, track and alias calls into profiles, synced and then diffed', async () => {
    await sendWithAnalyticsNode((analytics) => {
      analytics.identify({ userId: 'u-ada', anonymousId: 'anon-ada', traits: { name: 'Ada Lovelace', email: 'ada@example.com', country: 'gb' } });
      analytics.group({ userId: 'u-ada', groupId: 'acme', traits: { name: 'Acme Corp', plan: 'enterprise' } });
      analytics.track({ userId: 'u-ada', event: 'Order Completed', properties: { total: 12.5 } });
      analytics.track({ userId: 'u-ada', event: 'Order Completed', properties: { total: 40 } });
    });

    const rudderErrors: unknown[] = [];
    const rudder = new Rudder(WRITE_KEY, {
      dataPlaneUrl: url,
      flushAt: 20,
      flushInterval: 20,
      retryCount: 0,
      logLevel: 'error',
      errorHandler: (error) => rudderErrors.push(error),
    });
    rudder.track({ anonymousId: 'anon-grace', event: 'Order Completed', properties: { total: 9 } });
    rudder.alias({ previousId: 'anon-grace', userId: 'u-grace' });
    rudder.identify({ userId: 'u-grace', traits: { name: 'Grace Hopper', email: 'grace@example.com', country: 'us' } });
    await rudder.flush();
    expect(rudderErrors).toEqual([]);

    // What each client really sent: analytics-node plain JSON, rudder gzip; both Basic auth to /v1/batch.
    const analyticsNode = ingestRequests().filter((request) => request.headers['user-agent'] === 'analytics-node-next/latest');
    const rudderNode = ingestRequests().filter((request) => request.headers['user-agent']?.startsWith('analytics-node/'));
    expect(analyticsNode.length).toBeGreaterThan(0);
    expect(rudderNode.length).toBeGreaterThan(0);
    for (const request of [...analyticsNode, ...rudderNode]) {
      expect(request).toMatchObject({ method: 'POST', url: '/v1/batch' });
      expect(request.headers.authorization).toBe(`Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`);
    }
    expect(analyticsNode.every((request) => request.headers['content-encoding'] === undefined)).toBe(true);
    expect(rudderNode.every((request) => request.headers['content-encoding'] === 'gzip')).toBe(true);

    const first = await cli('sync');
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const bodies = Object.fromEntries(emulator.sentBodies.map((body) => [body.externalId, body]));
    expect(bodies).toEqual({
      'u-ada': {
        externalId: 'u-ada',
        displayName: 'Ada Lovelace',
        email: 'ada@example.com',
        country: 'GB',
        tags: { plan: 'enterprise' },
        metadata: { company: 'Acme Corp', orders: 2, events: 2 },
      },
      'u-grace': { externalId: 'u-grace', displayName: 'Grace Hopper', email: 'grace@example.com', country: 'US', metadata: { orders: 1, events: 1 } },
    });
    expect(emulator.received[0].headers['x-api-key']).toBe('pk_test_clients_key');

    // More events: plan reads only the profiles changed since the cursor and shows each field's change.
    await sendWithAnalyticsNode((analytics) => {
      analytics.identify({ userId: 'u-ada', traits: { email: 'ada@lovelace.dev' } });
      analytics.track({ userId: 'u-grace', event: 'Signed In' });
    });
    const plan = await cli('plan', '--json');
    expect(plan.code).toBe(2);
    const [syncPlan] = JSON.parse(plan.stdout).syncs;
    expect(syncPlan.full).toBe(false);
    expect(syncPlan.counts).toMatchObject({ added: 0, changed: 2, unchanged: 0 });
    expect(syncPlan.records).toEqual([
      expect.objectContaining({ key: 'u-ada', class: 'changed', changes: [{ field: 'email', old: 'ada@example.com', new: 'ada@lovelace.dev' }] }),
      expect.objectContaining({ key: 'u-grace', class: 'changed', changes: [{ field: 'metadata.events', old: 1, new: 2 }] }),
    ]);

    const second = await cli('sync');
    expect(second.code).toBe(0);
    expect(emulator.sentBodies.slice(2)).toEqual([
      { ...bodies['u-ada'], email: 'ada@lovelace.dev' },
      { ...bodies['u-grace'], metadata: { orders: 1, events: 2 } },
    ]);
    expect((await cli('plan')).code).toBe(0);
  });
});
