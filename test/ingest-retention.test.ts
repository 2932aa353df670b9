// Retention of the event log: events received longer ago than `retention` are pruned in the
// background while profiles stay; messageId dedup holds within the window; a large backlog is
// pruned in small batches while requests keep being answered; and under steady traffic with a short
// retention the store stops growing. Every wait is for a prune report, never for a guessed time.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { PruneReport } from '../src/ingest/index.js';
import { sqliteRows, tempDir } from './helpers/index.js';
import { ingestWith, NO_SYNCS, post, readProfiles, segmentConfig, storePath } from './helpers/segment.js';

/** Prune reports as they come, and a wait for the first moment `ready` holds (checked at each report). */
function pruneReports() {
  const reports: PruneReport[] = [];
  let waiters: { ready: () => boolean; resolve: () => void }[] = [];
  const onPrune = (_source: string, report: PruneReport) => {
    reports.push(report);
    waiters = waiters.filter((waiter) => (waiter.ready() ? (waiter.resolve(), false) : true));
  };
  const until = (ready: () => boolean, what: string, timeoutMs = 60_000) =>
    new Promise<void>((resolve, reject) => {
      if (ready()) return resolve();
      const timer = setTimeout(
        () => reject(new Error(`no prune report brought ${what} within ${timeoutMs / 1000} s; reports: ${JSON.stringify(reports)}`)),
        timeoutMs,
      );
      waiters.push({ ready, resolve: () => (clearTimeout(timer), resolve()) });
    });
  return { reports, onPrune, until };
}

const count = (dir: string, where = '1') => sqliteRows<{ n: number }>(storePath(dir), `select count(*) as n from events where ${where}`)[0].n;
const messageIds = (dir: string) =>
  sqliteRows<{ message_id: string }>(storePath(dir), 'select message_id from events order by id').map((row) => row.message_id);

/** Makes stored events look received `hoursAgo` hours ago, as if the store had been running that long. */
function age(dir: string, where: string, hoursAgo: number): void {
  const db = new Database(storePath(dir));
  db.prepare(`update events set received_at = ? where ${where}`).run(new Date(Date.now() - hoursAgo * 3_600_000).toISOString());
  db.close();
}

describe('retention', () => {
  it('prunes events received before the window, keeps profiles, and deduplicates within the window', async () => {
    const dir = tempDir();
    const file = segmentConfig(dir, NO_SYNCS, '    retention: 1h');
    const first = await ingestWith(file, {});
    await post(first.url, '/v1/batch', {
      batch: [
        { type: 'identify', userId: 'u-old', traits: { plan: 'pro' }, messageId: 'm-old-1' },
        { type: 'track', userId: 'u-old', event: 'Order Completed', messageId: 'm-old-2' },
        { type: 'group', userId: 'u-old', groupId: 'acme', traits: { name: 'Acme' }, messageId: 'm-old-3' },
        // An import of history: old by its timestamp, but received now, so it is kept for the window.
        { type: 'track', userId: 'u-old', event: 'Signed Up', timestamp: '2020-01-01T00:00:00.000Z', messageId: 'm-history' },
      ],
    });
    await first.close();
    age(dir, "message_id like 'm-old-%'", 2);

    const { reports, onPrune, until } = pruneReports();
    const { url, loaded } = await ingestWith(file, { onPrune });
    await until(() => reports.length > 0, 'the aged events');
    expect(reports).toEqual([{ events: 3, olderThan: expect.any(String), batches: 1, longestBatchMs: expect.any(Number) }]);
    expect(messageIds(dir)).toEqual(['m-history']);

    // The profile built from the pruned events is whole.
    expect((await readProfiles(loaded)).get('u-old')).toMatchObject({
      traits: { plan: 'pro' },
      group: { name: 'Acme' },
      eventCount: 2,
      eventCounts: { 'Order Completed': 1, 'Signed Up': 1 },
    });

    // Within the window a retried delivery is recognised; past it, a messageId is new again.
    expect((await post(url, '/v1/track', { userId: 'u-old', event: 'Signed Up', timestamp: '2020-01-01T00:00:00.000Z', messageId: 'm-history' })).status).toBe(
      200,
    );
    expect((await post(url, '/v1/track', { userId: 'u-old', event: 'Order Completed', messageId: 'm-old-2' })).status).toBe(200);
    expect(messageIds(dir)).toEqual(['m-history', 'm-old-2']);
    expect((await readProfiles(loaded)).get('u-old')).toMatchObject({ eventCount: 3, eventCounts: { 'Order Completed': 2, 'Signed Up': 1 } });
  });

  it('prunes a large backlog in small batches while requests keep being answered', async () => {
    const dir = tempDir();
    const file = segmentConfig(dir, NO_SYNCS, '    retention: 30d');
    await (await ingestWith(file, {})).close(); // creates the store
    const BACKLOG = 100_000;
    const db = new Database(storePath(dir));
    db.prepare(
      `with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
       insert into events (message_id, type, user_id, anonymous_id, timestamp, received_at, body)
       select 'backlog-' || i, 'track', 'u-' || (i % 100), null, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '{"type":"track"}' from n`,
    ).run(BACKLOG);
    db.close();

    const { reports, onPrune, until } = pruneReports();
    const { url } = await ingestWith(file, { onPrune });
    const answer = await post(url, '/v1/batch', { batch: [{ type: 'identify', userId: 'u-new', traits: { plan: 'pro' }, messageId: 'm-new' }] });
    expect(answer.status).toBe(200);
    // Answered while the backlog was still being pruned: the pass had not reported yet.
    expect(reports).toEqual([]);
    await until(() => reports.length > 0, 'the backlog');
    expect(reports[0].events).toBe(BACKLOG);
    expect(reports[0].batches).toBeGreaterThan(BACKLOG / 2_000); // at most 2,000 events per transaction
    expect(messageIds(dir)).toEqual(['m-new']);
  });

  it('levels off in disk use under steady traffic with a short retention', { timeout: 180_000 }, async () => {
    const dir = tempDir();
    const { reports, onPrune, until } = pruneReports();
    const { url, ingest } = await ingestWith(segmentConfig(dir, NO_SYNCS, '    retention: 1s'), { onPrune });
    const ROUNDS = 12;
    const PER_ROUND = 1_000;
    const sizes: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (let batch = 0; batch < PER_ROUND / 100; batch++) {
        const messages = Array.from({ length: 100 }, (_, index) => ({
          type: 'track',
          userId: `u-${index % 50}`,
          event: 'Product Viewed',
          messageId: `r${round}-${batch}-${index}-${Math.random().toString(36).slice(2)}`,
          properties: { sku: `sku-${batch}-${index}`, price: index, description: 'x'.repeat(200) },
        }));
        expect((await post(url, '/v1/batch', { batch: messages })).status).toBe(200);
      }
      // Steady state: the round before this one has been pruned entirely.
      if (round > 0) await until(() => count(dir, `message_id like 'r${round - 1}-%'`) === 0, `round ${round - 1} down to 0`);
      sizes.push(ingest.stores()[0].bytes);
    }
    const ingested = ROUNDS * PER_ROUND;
    const pruned = reports.reduce((sum, report) => sum + report.events, 0);
    expect(pruned + count(dir)).toBe(ingested);
    expect(count(dir)).toBeLessThanOrEqual(2 * PER_ROUND);
    // Half the traffic came after round 6; without pruning the store would have grown by about as much again.
    console.log(`event store bytes by round: ${sizes.join(', ')}`);
    expect(sizes[ROUNDS - 1]).toBeLessThanOrEqual(sizes[ROUNDS / 2 - 1] * 1.25);
    expect(ingest.stores()[0].pruned).toBe(pruned);
  });
});
