// How the segment destination's batching behaves behind the engine's concurrency gate: syncs the same
// SQLite warehouse to the Segment emulator at several concurrency levels and prints records/second,
// batch sizes and requests in flight. Run: node --import tsx bench/segment-batching.ts [records]
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { runSync } from '../src/engine/sync.js';
import { Workspace } from '../src/engine/workspace.js';
import { StateStore } from '../src/state/store.js';
import { SegmentEmulator } from '../sandbox/segment.js';

const RECORDS = Math.min(Number(process.argv[2] ?? 3000), 20_000);
const CONCURRENCY = [15, 50, 150, 300];
const WRITE_KEY = 'wk_bench';

function warehouse(file: string): void {
  const db = new Database(file);
  db.exec('create table users (id integer primary key, name text, email text, plan text)');
  const insert = db.prepare('insert into users values (?, ?, ?, ?)');
  db.transaction(() => {
    for (let id = 1; id <= RECORDS; id++) insert.run(id, `User ${id}`, `user${id}@example.com`, id % 2 ? 'free' : 'pro');
  })();
  db.close();
}

async function measure(concurrency: number, requestsPerSecond: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backflow-bench-segment-'));
  const emulator = new SegmentEmulator([WRITE_KEY]);
  const host = await emulator.start();
  try {
    warehouse(path.join(dir, 'warehouse.db'));
    const config = `
version: 1
state: { path: ./state.db }
sources: { warehouse: { type: sqlite, path: ./warehouse.db } }
destinations:
  segment: { type: segment, writeKey: ${WRITE_KEY}, host: "${host}", concurrency: ${concurrency}, rateLimit: { requestsPerSecond: ${requestsPerSecond} } }
syncs:
  - { name: users, source: warehouse, query: select * from users, primaryKey: id, destination: segment,
      mapping: { userId: id, traits.name: name, traits.email: email, traits.plan: plan } }
`;
    const loaded = parseConfig(config, path.join(dir, 'backflow.yaml'), {});
    const state = StateStore.open(loaded.statePath);
    const workspace = new Workspace(loaded, state);
    const summary = await runSync(workspace, workspace.syncNamed('users'));
    await workspace.close();
    state.close();
    const sizes = emulator.batches.map((batch) => batch.messages);
    const perSecond = Math.round(summary.counts.sent / (summary.durationMs / 1000));
    console.log(
      `concurrency ${String(concurrency).padStart(3)}  rate ${String(requestsPerSecond).padStart(5)}/s  ` +
        `sent ${summary.counts.sent}/${RECORDS} in ${(summary.durationMs / 1000).toFixed(2)}s = ${perSecond} records/s  ` +
        `batches ${sizes.length} (mean ${(summary.counts.sent / sizes.length).toFixed(1)}, full ${sizes.filter((size) => size === 15).length})  ` +
        `requests in flight ≤ ${emulator.maxInFlight}`,
    );
  } finally {
    await emulator.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

for (const concurrency of CONCURRENCY) await measure(concurrency, 500);
await measure(150, 10_000);
