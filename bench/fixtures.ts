// What the benchmarks share: a users warehouse of any size (SQLite, the real PostgreSQL or MariaDB), a config
// syncing it to GamifyHost, and state seeded as a completed sync would leave it.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { buildWarehouse } from '../demo/warehouse.js';
import { parseConfig } from '../src/config/load.js';
import { planSync } from '../src/engine/plan.js';
import { Workspace } from '../src/engine/workspace.js';
import type { Confirmation } from '../src/state/contract.js';
import { StateStore } from '../src/state/store.js';

export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = process.env.BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test';
export const API_KEY = 'pk_test_bench';

/** The demo's mapping: a template, transforms, nested targets; every field GamifyHost validates. */
export const MAPPING = `
      externalId: id
      displayName: { template: "{{first_name}} {{last_name}}" }
      email: { column: email, transform: [trim, lower] }
      country: { column: country, transform: upper }
      phone: phone
      device: device
      tags.plan: plan
      metadata.updatedAt: { column: updated_at, transform: iso8601 }`;

export interface Warehouse {
  /** The source's YAML (flow style). */
  source: string;
  query: string;
  /** Changes the `plan` of every `every`-th user (so 1/every of the rows). */
  change(every: number): Promise<void>;
  drop(): Promise<void>;
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

/** `count` extra text columns (extra_01 …), none of them mapped: wide rows (bench/pushdown.ts). */
export function extraColumns(count: number): string[] {
  return Array.from({ length: count }, (_, index) => `extra_${String(index + 1).padStart(2, '0')}`);
}

/**
 * Creates a users table of `rows` rows in `dir` (SQLite) or in a schema of its own (PostgreSQL),
 * with `wide` extra text columns of 32 characters each (PostgreSQL only).
 */
export async function buildSource(kind: 'sqlite' | 'postgres', dir: string, rows: number, wide = 0): Promise<Warehouse> {
  if (kind === 'sqlite') {
    const file = path.join(dir, 'warehouse.db');
    buildWarehouse(file, rows);
    return {
      source: '{ type: sqlite, path: ./warehouse.db }',
      query: 'select * from users',
      change: async (every) => {
        const db = new Database(file);
        db.prepare(`update users set plan = 'changed' where id % ${every} = 0`).run();
        db.close();
      },
      drop: async () => fs.rmSync(file, { force: true }),
    };
  }
  const schema = `bench_${rows}_${process.pid}`;
  const extras = extraColumns(wide);
  await postgres(`drop schema if exists ${schema} cascade; create schema ${schema};
    create table ${schema}.users (id integer primary key, first_name text, last_name text, email text, country text, phone text,
      device text, plan text, signup_source text, updated_at timestamptz not null${extras.map((name) => `, ${name} text`).join('')});
    insert into ${schema}.users select i, 'First' || (i % 97), 'Last' || (i % 89), ' user' || i || '@Example.com ',
      (array['ng','us','gb','de','fr'])[1 + i % 5], '+1555' || lpad(i::text, 7, '0'), (array['mobile','desktop','tablet'])[1 + i % 3],
      (array['free','pro','team'])[1 + i % 3], 'organic', timestamptz '2026-01-01' + i * interval '1 second'${extras.map((name) => `, md5(i || '${name}')`).join('')}
    from generate_series(1, ${rows}) as i; analyze ${schema}.users;`);
  return {
    source: `{ type: postgres, url: "${PG_URL}" }`,
    query: `select * from ${schema}.users`,
    change: (every) => postgres(`update ${schema}.users set plan = 'changed' where id % ${every} = 0`),
    drop: () => postgres(`drop schema if exists ${schema} cascade`),
  };
}

/** The same users as buildSource's PostgreSQL table, in a MariaDB / MySQL database of their own. */
export async function buildMysql(rows: number, wide = 0): Promise<Warehouse> {
  const { default: mysql } = await import('mysql2/promise');
  const database = `bench_${rows}_${process.pid}`;
  const extras = extraColumns(wide);
  const run = async (sql: string) => {
    const connection = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
    try {
      await connection.query(sql);
    } finally {
      await connection.end();
    }
  };
  // MariaDB's sequence engine (seq_1_to_N) numbers the rows.
  await run(`drop database if exists ${database}; create database ${database}; use ${database};
    create table users (id bigint primary key, first_name varchar(100), last_name varchar(100), email varchar(200), country varchar(10),
      phone varchar(20), device varchar(20), plan varchar(20), signup_source varchar(20), updated_at datetime(3) not null${extras.map((name) => `, ${name} varchar(64)`).join('')});
    insert into users select seq, concat('First', seq % 97), concat('Last', seq % 89), concat(' user', seq, '@Example.com '),
      elt(1 + seq % 5, 'ng', 'us', 'gb', 'de', 'fr'), concat('+1555', lpad(seq, 7, '0')), elt(1 + seq % 3, 'mobile', 'desktop', 'tablet'),
      elt(1 + seq % 3, 'free', 'pro', 'team'), 'organic', timestamp '2026-01-01 00:00:00' + interval seq second${extras.map((name) => `, md5(concat(seq, '${name}'))`).join('')}
    from seq_1_to_${rows}; analyze table users;`);
  return {
    source: `{ type: mysql, url: "${MYSQL_URL.replace(/\/[^/]*$/, '')}/${database}" }`,
    query: 'select * from users',
    change: (every) => run(`update ${database}.users set plan = 'changed' where id % ${every} = 0`),
    drop: () => run(`drop database if exists ${database}`),
  };
}

export interface DestinationOptions {
  baseUrl?: string;
  requestsPerSecond?: number;
  concurrency?: number;
}

/** One sync `users` from the warehouse to GamifyHost (an emulator on loopback, or nothing listening). */
export function configText(warehouse: Pick<Warehouse, 'source' | 'query'>, destination: DestinationOptions = {}): string {
  const limits = [
    destination.requestsPerSecond ? `rateLimit: { requestsPerSecond: ${destination.requestsPerSecond} }` : '',
    destination.concurrency ? `concurrency: ${destination.concurrency}` : '',
  ].filter(Boolean);
  return `version: 1
state: { path: ./state.db }
sources:
  warehouse: ${warehouse.source}
destinations:
  gamify: { type: gamifyhost, apiKey: ${API_KEY}, baseUrl: "${destination.baseUrl ?? 'http://127.0.0.1:9'}"${limits.map((entry) => `, ${entry}`).join('')} }
syncs:
  - name: users
    source: warehouse
    query: ${JSON.stringify(warehouse.query)}
    primaryKey: id
    destination: gamify
    mapping:${MAPPING}
`;
}

/** A temp folder holding the config (and the SQLite files). */
export function benchDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `backflow-bench-${name}-`));
}

export function writeConfig(dir: string, text: string): string {
  const file = path.join(dir, 'backflow.yaml');
  fs.writeFileSync(file, text);
  return file;
}

/** Fills the state as a completed sync would have: every record confirmed with its payload. */
export async function seedState(configFile: string): Promise<number> {
  const loaded = parseConfig(fs.readFileSync(configFile, 'utf8'), configFile, {});
  const state = StateStore.open(loaded.statePath);
  const workspace = new Workspace(loaded, state);
  let buffer: Confirmation[] = [];
  let count = 0;
  try {
    await planSync(workspace, workspace.syncNamed('users'), {
      show: 0,
      onSendable: (record) => {
        buffer.push({ key: record.key, fingerprint: record.fingerprint, payload: record.payload, rowHash: record.rowHash, sourceHash: record.sourceHash });
        count++;
        if (buffer.length >= 10_000) {
          state.commitConfirmed('users', null, buffer);
          buffer = [];
        }
      },
    });
    state.commitConfirmed('users', null, buffer);
  } finally {
    await workspace.close();
    state.close();
  }
  return count;
}
