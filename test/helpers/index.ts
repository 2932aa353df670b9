// Test helpers: temp folders, configs, a SQLite warehouse, the real CLI as a child process, and a
// workspace for in-process engine tests. Every test gets its own folder and state file.
import Database from 'better-sqlite3';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { DeliveryObserver } from '../../src/delivery/destination.js';
import { Workspace } from '../../src/engine/workspace.js';
import { registerSecrets } from '../../src/redact.js';
import { StateStore } from '../../src/state/store.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { ChangeSignal, waitUntil } from './wait.js';

export { waitUntil } from './wait.js';

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

/**
 * Spawns the built CLI as a user would, without waiting. The child is the test's: when the test ends,
 * however it ends, a child still running is SIGKILLed and its exit awaited, so no process outlives
 * its test to hold a sync lock, a port or a file of the next one.
 */
export function spawnCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): ChildProcessByStdio<null, Readable, Readable> {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? REPO,
    env: { ...process.env, CI: 'true', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const closed = once(child, 'close').catch(() => undefined);
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await closed;
  });
  return child;
}

/**
 * Runs the built CLI to its end and returns what it printed. No timer of its own: a run that hangs is
 * ended by the test's timeout, and spawnCli's cleanup kills it.
 */
export async function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const child = spawnCli(args, options);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
  return { code: code ?? (signal ? 128 : 1), stdout, stderr };
}

/** Resolves with the first match of `pattern` in the child's stdout or stderr; fails if the child exits first, with what it printed. */
export async function outputLine(child: ChildProcessByStdio<null, Readable, Readable>, pattern: RegExp, what: string): Promise<RegExpMatchArray> {
  let output = '';
  let exited = false;
  const changes = new ChangeSignal();
  child.stdout.on('data', (chunk) => {
    output += chunk;
    changes.notify();
  });
  child.stderr.on('data', (chunk) => {
    output += chunk;
    changes.notify();
  });
  child.once('exit', () => {
    exited = true;
    changes.notify();
  });
  return waitUntil(
    what,
    () => {
      const match = output.match(pattern);
      if (match) return match;
      if (exited) throw new Error(`the CLI exited (${child.exitCode ?? child.signalCode}) before ${what}:\n${output}`);
      return undefined;
    },
    changes,
  );
}

/** A workspace over a config text, for in-process engine tests; closed when the test ends. */
export function workspaceFor(configText: string, dir: string, env: NodeJS.ProcessEnv = {}, observer?: DeliveryObserver): Workspace {
  const loaded = parseConfig(configText, path.join(dir, 'backflow.yaml'), { ...process.env, ...env });
  registerSecrets(loaded.secrets);
  const state = StateStore.open(loaded.statePath);
  const workspace = new Workspace(loaded, state, observer);
  onTestFinished(async () => {
    await workspace.close();
    state.close();
  });
  return workspace;
}

/** The retries a workspace's destinations made, as "key reason" (e.g. "3 ETIMEDOUT", "5 HTTP 503"), for workspaceFor. */
export function retryLog(): { observer: DeliveryObserver; retries: { key: string; reason: string }[] } {
  const retries: { key: string; reason: string }[] = [];
  return { observer: { retry: (_destination, reason, context) => void retries.push({ key: context.key, reason }) }, retries };
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
export async function gamifyWarehouse(count: number, emulatorOptions: { maxBodyBytes?: number } = {}): Promise<{ dir: string; emulator: GamifyHostEmulator }> {
  const dir = tempDir();
  const emulator = new GamifyHostEmulator(['pk_test_secret_key_123'], emulatorOptions);
  await emulator.start();
  onTestFinished(() => emulator.stop());
  sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(count));
  return { dir, emulator };
}
