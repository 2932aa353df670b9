// Plan at scale: N users in SQLite or PostgreSQL, all synced before, 1% changed since; measures the
// wall time and peak RSS of the real `backflow plan` process.
//   node dist/bench/plan.js [--rows 100000] [--changed 0.01] [--source sqlite|postgres]
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { parseArgs } from 'node:util';
import { parseConfig } from '../src/config/load.js';
import { planSync } from '../src/engine/plan.js';
import { Workspace } from '../src/engine/workspace.js';
import { StateStore, type Confirmation } from '../src/state/store.js';
import { buildWarehouse } from '../demo/warehouse.js';
import { repoRoot, timeCommand, writeResult } from './measure.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
const MAPPING = `
      externalId: id
      displayName: { template: "{{first_name}} {{last_name}}" }
      email: { column: email, transform: [trim, lower] }
      country: { column: country, transform: upper }
      phone: phone
      device: device
      tags.plan: plan
      metadata.updatedAt: { column: updated_at, transform: iso8601 }`;

function configText(source: string, query: string): string {
  return `version: 1
state: { path: ./state.db }
sources:
  warehouse: ${source}
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_bench, baseUrl: "http://127.0.0.1:9" }
syncs:
  - name: users
    source: warehouse
    query: ${query}
    primaryKey: id
    destination: gamify
    batchSize: 2000
    mapping:${MAPPING}
`;
}

async function postgres(sql: string): Promise<void> {
  const client = new pg.Client(PG_URL);
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** Creates the warehouse; returns the source YAML, the query, and how to change a fraction of rows. */
export async function buildSource(kind: string, dir: string, rows: number) {
  if (kind === 'sqlite') {
    const file = path.join(dir, 'warehouse.db');
    buildWarehouse(file, rows);
    return {
      source: '{ type: sqlite, path: ./warehouse.db }',
      query: 'select * from users',
      change: async (every: number) => {
        const { default: Database } = await import('better-sqlite3');
        const db = new Database(file);
        db.prepare(`update users set plan = 'changed' where id % ${every} = 0`).run();
        db.close();
      },
    };
  }
  const schema = `bench_${rows}`;
  await postgres(`drop schema if exists ${schema} cascade; create schema ${schema};
    create table ${schema}.users (id integer primary key, first_name text, last_name text, email text, country text, phone text,
      device text, plan text, signup_source text, updated_at timestamptz not null);
    insert into ${schema}.users select i, 'First' || (i % 97), 'Last' || (i % 89), ' user' || i || '@Example.com ',
      (array['ng','us','gb','de','fr'])[1 + i % 5], '+1555' || lpad(i::text, 7, '0'), (array['mobile','desktop','tablet'])[1 + i % 3],
      (array['free','pro','team'])[1 + i % 3], 'organic', timestamptz '2026-01-01' + i * interval '1 second'
    from generate_series(1, ${rows}) as i; analyze ${schema}.users;`);
  return {
    source: `{ type: postgres, url: "${PG_URL}" }`,
    query: `select * from ${schema}.users`,
    change: (every: number) => postgres(`update ${schema}.users set plan = 'changed' where id % ${every} = 0`),
    drop: () => postgres(`drop schema if exists ${schema} cascade`),
  };
}

/** Fills the state as a completed sync would have: every record confirmed with its payload. */
export async function seedState(dir: string, text: string): Promise<void> {
  const loaded = parseConfig(text, path.join(dir, 'backflow.yaml'), {});
  const state = StateStore.open(loaded.statePath);
  const workspace = new Workspace(loaded, state);
  let buffer: Confirmation[] = [];
  await planSync(workspace, workspace.syncNamed('users'), {
    show: 0,
    onSendable: (record) => {
      buffer.push({ key: record.key, fingerprint: record.fingerprint!, payload: record.payload });
      if (buffer.length >= 10_000) {
        state.commitConfirmed('users', null, buffer);
        buffer = [];
      }
    },
  });
  state.commitConfirmed('users', null, buffer);
  await workspace.close();
  state.close();
}

export async function benchPlan(kind: string, rows: number, changedFraction: number) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `backflow-bench-plan-${kind}-`));
  try {
    const warehouse = await buildSource(kind, dir, rows);
    const text = configText(warehouse.source, JSON.stringify(warehouse.query));
    const config = path.join(dir, 'backflow.yaml');
    fs.writeFileSync(config, text);
    await seedState(dir, text);
    await warehouse.change(Math.round(1 / changedFraction));
    const cli = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');
    const run = timeCommand(process.execPath, [cli, '--config', config, 'plan', '--json', '--show', '0']);
    const plan = JSON.parse(run.stdout).syncs[0];
    await ('drop' in warehouse ? warehouse.drop?.() : undefined);
    return { scenario: 'plan', source: kind, rows, changed: plan.counts.changed, wallSeconds: run.wallSeconds, peakRssMb: run.peakRssMb, exitCode: run.exitCode };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, changed: { type: 'string', default: '0.01' }, source: { type: 'string', default: 'sqlite' } } });
  const result = await benchPlan(values.source!, Number(values.rows), Number(values.changed));
  console.table([result]);
  writeResult(`plan-${values.source}-${values.rows}`, result);
  void execFileSync;
}
