// The daemon's /metrics for a segment source: events pruned by retention (as its log reports them)
// and the event store's size on disk, from a real `backflow daemon` serving ingest.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INGEST_REASONS } from '../../src/ingest/reasons.js';
import { tempDir, writeFile } from '../helpers/index.js';
import { post, WRITE_KEY } from '../helpers/segment.js';
import { DaemonProcess, metric, parseMetrics } from './daemon-process.js';

/** A daemon serving one segment source (`sourceExtra` adds its settings), once its ingest listens. */
async function ingestDaemon(sourceExtra: string): Promise<{ dir: string; daemon: DaemonProcess; ingestUrl: string }> {
  const dir = tempDir();
  const config = writeFile(
    dir,
    'backflow.yaml',
    `version: 1
state: { path: ./state.db }
daemon: { listen: "127.0.0.1:0" }
sources:
  events: { type: segment, listen: "127.0.0.1:0", writeKeys: ["\${SEGMENT_WRITE_KEY}"], store: ./events.db${sourceExtra} }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_unused, baseUrl: "http://127.0.0.1:9" }
syncs:
  - { name: users, source: events, destination: gamify, mapping: { externalId: userId } }
`,
  );
  const daemon = new DaemonProcess(config, { SEGMENT_WRITE_KEY: WRITE_KEY });
  const started = await daemon.waitForLog((line) => line.msg === 'service started', 'the ingest service');
  const [ingestUrl] = started.addresses as string[];
  return { dir, daemon, ingestUrl };
}

describe('daemon metrics of the Segment ingest', () => {
  it('shows the events pruned and the event store size', async () => {
    const { dir, daemon, ingestUrl } = await ingestDaemon(', retention: 1s');

    const before = parseMetrics(await daemon.metricsText());
    expect(metric(before, 'backflow_ingest_events_pruned_total', { source: 'events' })).toBe(0);

    const batch = Array.from({ length: 50 }, (_, index) => ({ type: 'track', userId: `u-${index % 5}`, event: 'Clicked', messageId: `m-${index}` }));
    expect((await post(ingestUrl, '/v1/batch', { batch })).status).toBe(200);
    const pruned = await daemon.waitForLog((line) => line.msg === 'events pruned (older than the retention)', 'a prune pass');
    expect(pruned).toMatchObject({ source: 'events', events: 50, level: 'info' });

    const values = parseMetrics(await daemon.metricsText());
    expect(metric(values, 'backflow_ingest_events_pruned_total', { source: 'events' })).toBe(50);
    const onDisk = ['events.db', 'events.db-wal'].reduce(
      (sum, name) => sum + (fs.existsSync(path.join(dir, name)) ? fs.statSync(path.join(dir, name)).size : 0),
      0,
    );
    expect(metric(values, 'backflow_event_store_bytes', { source: 'events' })).toBe(onDisk);

    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  });

  it('labels refused events with a reason from a fixed set, never the client-controlled text (byte positions, paths, sizes)', async () => {
    const { daemon, ingestUrl } = await ingestDaemon('');

    // Bad JSON broken at different byte positions: one label, not one series per position.
    for (const raw of ['{"type": "track", "userId": ', '{"a":1,,}', '[[[[']) expect((await post(ingestUrl, '/v1/track', raw, { raw: true })).status).toBe(400);
    expect((await post(ingestUrl, '/v1/no-such-endpoint-8731', {})).status).toBe(404);
    expect((await post(ingestUrl, '/v1/track', { userId: 'u-1', event: 'Clicked' }, { auth: 'not-a-key:' })).status).toBe(401);
    const batch = [
      { type: 'track', userId: 'u-1', event: 'Clicked', messageId: 'm-1' },
      { type: 'track', event: 'No user 12345' },
    ];
    expect((await post(ingestUrl, '/v1/batch', { batch })).status).toBe(400);

    const values = parseMetrics(await daemon.metricsText());
    const reasons = [...values.keys()].filter((key) => key.startsWith('backflow_ingest_events_total')).map((key) => /reason="([^"]*)"/.exec(key)?.[1]);
    for (const reason of reasons) expect(['', ...INGEST_REASONS]).toContain(reason);
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'refused', reason: 'invalid_json' })).toBe(3);
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'refused', reason: 'no_endpoint' })).toBe(1);
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'refused', reason: 'unknown_write_key' })).toBe(1);
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'refused', reason: 'invalid_message' })).toBe(1);
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'accepted', reason: '' })).toBe(1);

    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  });
});
