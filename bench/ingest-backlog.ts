// For bench/ingest.ts: an event store seeded with a backlog of expired events (received 60 days ago,
// past the default 30-day retention), so `backflow ingest` prunes them during the measured run — the
// worst case of "ingest while it prunes". Bodies and random messageIds like real traffic, so each
// delete costs what it costs in production (the messageId index is touched at random places).
import { openStoreFile } from '../src/ingest/store-schema.js';

const EXPIRED_AT = () => new Date(Date.now() - 60 * 86_400_000).toISOString();

/** Creates `file` with `count` expired events (in one transaction: a few seconds per million). */
export function seedBacklog(file: string, count: number): void {
  const db = openStoreFile(file, { readonly: false });
  try {
    const at = EXPIRED_AT();
    const body = JSON.stringify({
      type: 'track',
      event: 'Product Viewed',
      userId: 'user-0',
      properties: { orderId: 'o-0', total: 12.5, currency: 'EUR' },
      context: { library: { name: 'bench', version: '1' }, ip: '127.0.0.1' },
      timestamp: at,
    });
    db.prepare(
      `with recursive n(i) as (select 1 union all select i + 1 from n where i < ?)
       insert into events (message_id, type, user_id, anonymous_id, timestamp, received_at, body)
       select 'old-' || lower(hex(randomblob(16))), 'track', 'user-' || (i % 10000), null, ?, ?, ? from n`,
    ).run(count, at, at, body);
  } finally {
    db.close();
  }
}

/** Expired events still in the store (read once ingest has stopped). */
export function backlogLeft(file: string): number {
  const db = openStoreFile(file, { readonly: true });
  try {
    return (db.prepare("select count(*) as n from events where message_id like 'old-%'").get() as { n: number }).n;
  } finally {
    db.close();
  }
}
