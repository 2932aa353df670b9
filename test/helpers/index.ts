// Test helpers: temp folders, configs, a SQLite warehouse, the real CLI as a child process, and a
// workspace for in-process engine tests. Every test gets its own folder and state file.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { Workspace } from '../../src/engine/workspace.js';
import { registerSecrets } from '../../src/redact.js';
import { StateStore } from '../../src/state/store.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// The built CLI (test/global-setup.ts builds before any test): what bin/backflow.js runs, and about
// twice as fast to start as compiling the TypeScript sources per spawn.
const CLI = path.join(REPO, 'dist', 'src', 'cli', 'main.js');

/** A fresh folder, removed when the test ends. */
export function tempDir(prefix = 'backflow-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function writeFile(dir: string, name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

export type Row = Record<string, string | number | null>;

/** A SQLite warehouse file with one table, created from `rows` (columns from the first row). */
export function sqliteTable(file: string, table: string, rows: Row[], columns = Object.keys(rows[0] ?? {})): void {
  const db = new Database(file);
  db.exec(`drop table if exists ${table}`);
  db.exec(`create table ${table} (${columns.map((column) => `"${column}"`).join(', ')})`);
  const insert = db.prepare(`insert into ${table} values (${columns.map(() => '?').join(', ')})`);
  db.transaction(() => rows.forEach((row) => insert.run(...columns.map((column) => row[column] ?? null))))();
  db.close();
}

/** Runs SQL against a SQLite file (to change warehouse rows between runs). */
export function sqliteExec(file: string, sql: string): void {
  const db = new Database(file);
  db.exec(sql);
  db.close();
}

/** Rows of a query on a SQLite file, read-only (to inspect a state or warehouse file). */
export function sqliteRows<T = Record<string, unknown>>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real (built) CLI as a user would. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO,
      env: { ...process.env, CI: 'true', ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** Spawns the CLI without waiting, for crash tests (SIGKILL mid-run). */
export function spawnCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  return spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, CI: 'true', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** A workspace over a config text, for in-process engine tests; closed when the test ends. */
export function workspaceFor(configText: string, dir: string, env: NodeJS.ProcessEnv = {}): Workspace {
  const loaded = parseConfig(configText, path.join(dir, 'backflow.yaml'), { ...process.env, ...env });
  registerSecrets(loaded.secrets);
  const state = StateStore.open(loaded.statePath);
  const workspace = new Workspace(loaded, state);
  onTestFinished(async () => {
    await workspace.close();
    state.close();
  });
  return workspace;
}

/** Users rows for tests: ids 1..count with a few realistic columns. */
export function users(count: number, start = 1): Row[] {
  return Array.from({ length: count }, (_, index) => {
    const id = start + index;
    return {
      id,
      name: `User ${id}`,
      email: `user${id}@example.com`,
      country: ['ng', 'us', 'gb'][id % 3],
      plan: id % 2 ? 'free' : 'pro',
      updated_at: `2026-01-01T00:00:${String(id % 60).padStart(2, '0')}Z`,
    };
  });
}

/** A config with one sync to a GamifyHost destination; parts can be replaced per test. */
export function gamifyConfig(options: {
  url: string;
  source?: string;
  query?: string;
  syncExtra?: string;
  destinationExtra?: string;
  mapping?: string;
}): string {
  return `version: 1
state: { path: ./state.db }
sources:
  warehouse: ${options.source ?? '{ type: sqlite, path: ./warehouse.db }'}
destinations:
  gamify:
    type: gamifyhost
    apiKey: \${GAMIFY_KEY:-pk_test_secret_key_123}
    baseUrl: ${options.url}
    rateLimit: { requestsPerSecond: 500 }
    retry: { attempts: 3, baseDelayMs: 10, maxDelaySeconds: 5 }
    timeoutSeconds: 2
${options.destinationExtra ?? ''}
syncs:
  - name: users
    source: warehouse
    query: ${options.query ?? 'select * from users'}
    primaryKey: id
    destination: gamify
${options.syncExtra ?? ''}
    mapping:
${
  options.mapping ??
  `      externalId: id
      displayName: name
      email: email
      country: { column: country, transform: upper }
      tags.plan: plan`
}
`;
}

/**
 * The common fixture: a fresh folder with a SQLite warehouse of `count` users, and a started
 * GamifyHost emulator that accepts the helpers' default key; both are gone when the test ends.
 */
export async function gamifyWarehouse(count: number): Promise<{ dir: string; emulator: GamifyHostEmulator }> {
  const dir = tempDir();
  const emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
  await emulator.start();
  onTestFinished(() => emulator.stop());
  sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(count));
  return { dir, emulator };
}
