// THE NAIVE BASELINE (not Backflow): the script a user would write instead of a sync tool. It streams
// the users table and POSTs every row to GamifyHost with plain fetch, `concurrency` at a time, with no
// state and no diff, so every run sends every row. bench/compare.ts times it against Backflow.
//   node dist/bench/baseline.js --db warehouse.db --url http://127.0.0.1:PORT --key pk_test_… [--concurrency 32]
import Database from 'better-sqlite3';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    db: { type: 'string' },
    url: { type: 'string' },
    key: { type: 'string' },
    concurrency: { type: 'string', default: '32' },
  },
});
const db = new Database(values.db, { readonly: true });
const rows = db.prepare('select * from users').iterate() as IterableIterator<Record<string, string | number | null>>;

let sent = 0;
let failed = 0;
async function worker(): Promise<void> {
  // Workers share one iterator, so each row is taken once.
  for (const row of rows) {
    const body = {
      externalId: String(row.id),
      displayName: `${row.first_name} ${row.last_name}`,
      email: String(row.email).trim().toLowerCase(),
      country: String(row.country).toUpperCase(),
      ...(row.phone ? { phone: row.phone } : {}),
      ...(row.device ? { device: row.device } : {}),
      tags: { plan: row.plan },
      metadata: { updatedAt: new Date(String(row.updated_at)).toISOString() },
    };
    const response = await fetch(`${values.url}/v1/user-journeys/users`, {
      method: 'POST',
      headers: { 'X-API-Key': values.key!, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(30_000),
    });
    await response.arrayBuffer();
    if (response.ok) sent++;
    else failed++;
  }
}
await Promise.all(Array.from({ length: Number(values.concurrency) }, worker));
console.log(JSON.stringify({ sent, failed }));
