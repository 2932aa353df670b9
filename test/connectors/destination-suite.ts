// The behaviour every HTTP destination shares, proved once per connector against its emulator through
// the real CLI: invalid records never leave, a 400 is rejected and retried next run, 401/403 stop,
// 429/5xx are retried (honouring Retry-After), the rate limit holds, and credentials never show.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runSync } from '../../src/engine/sync.js';
import { runCli, sqliteTable, tempDir, users, workspaceFor, writeFile, type CliResult, type Row } from '../helpers/index.js';
import { expectPaced, recordPacing } from '../helpers/pacing.js';
import type { Fault, HttpEmulator } from '../../sandbox/http-emulator.js';

/** Warehouse rows for connector tests: the helpers' users plus the columns vendors ask for. */
export function people(count: number, start = 1): Row[] {
  return users(count, start).map((row) => {
    const id = Number(row.id);
    return {
      ...row,
      phone: `+1555${String(id).padStart(7, '0')}`,
      account_id: `acct-${id % 3}`,
      company_id: `co-${id % 2}`,
      company_name: id % 2 ? 'Initech' : 'Globex',
      seats: id * 10,
      signup_date: `2025-0${(id % 9) + 1}-15`,
    };
  });
}

export interface DestinationCase<E extends HttpEmulator> {
  type: string;
  /** A fresh emulator that accepts the credentials in `env`. */
  emulator(): E;
  /** The destination's own settings, as YAML values (secrets as ${VAR} from `env`). */
  settings(url: string): Record<string, string>;
  env: Record<string, string>;
  /** Values that must never appear in output or state (the credentials, and any derived form). */
  secrets: string[];
  /** `mapping:` entries of the sync, as YAML lines. */
  mapping: string[];
  /** The record key of a body the emulator received. */
  keyOf(body: Record<string, unknown>): string;
  /** A row change that breaks a documented constraint, and words of the reason plan gives. */
  invalid: { change: Row; reason: string };
  /** The vendor's 400 for one record, and the vendor's words the rejection must keep. */
  rejection: { fault: Fault; reason: string };
  /** Makes the emulator refuse the credentials or the account; the vendor's words the stop must keep. */
  refuse(emulator: E): void;
  refusal: string;
  /** Passing failures in the vendor's own shapes: 429 and 5xx. */
  passing: Fault[];
}

export interface Setup<E> {
  emulator: E;
  dir: string;
  warehouse: string;
  /** Runs the CLI on the test's config; every run is checked for leaked credentials. */
  cli(...args: string[]): Promise<CliResult>;
  /** Every byte of the state (database and WAL) as text. */
  stateText(): string;
}

/** A folder with a config and a SQLite warehouse of `rows`, and the connector's emulator running. */
export async function setup<E extends HttpEmulator>(spec: DestinationCase<E>, options: { rows?: Row[]; requestsPerSecond?: number } = {}): Promise<Setup<E>> {
  const emulator = spec.emulator();
  const url = await emulator.start();
  onTestFinished(() => emulator.stop());
  const dir = tempDir();
  const warehouse = path.join(dir, 'warehouse.db');
  sqliteTable(warehouse, 'people', options.rows ?? people(10));
  const settings = Object.entries(spec.settings(url)).map(([key, value]) => `    ${key}: ${value}`);
  writeFile(
    dir,
    'backflow.yaml',
    [
      'version: 1',
      'state: { path: ./state.db }',
      'sources:',
      '  warehouse: { type: sqlite, path: ./warehouse.db }',
      'destinations:',
      '  dest:',
      `    type: ${spec.type}`,
      ...settings,
      `    rateLimit: { requestsPerSecond: ${options.requestsPerSecond ?? 200} }`,
      '    concurrency: 4',
      '    timeoutSeconds: 5',
      '    retry: { attempts: 3, baseDelayMs: 10 }',
      'syncs:',
      '  - name: people',
      '    source: warehouse',
      '    query: select * from people order by id',
      '    primaryKey: id',
      '    destination: dest',
      '    mapping:',
      ...spec.mapping.map((line) => `      ${line}`),
      '',
    ].join('\n'),
  );

  const cli = async (...args: string[]) => {
    const result = await runCli(['--config', path.join(dir, 'backflow.yaml'), ...args], { env: spec.env });
    for (const secret of spec.secrets) {
      expect(result.stdout, `stdout of "${args.join(' ')}" shows a credential`).not.toContain(secret);
      expect(result.stderr, `stderr of "${args.join(' ')}" shows a credential`).not.toContain(secret);
    }
    return result;
  };
  const stateText = () =>
    fs
      .readdirSync(dir)
      .filter((name) => name.startsWith('state.db'))
      .map((name) => fs.readFileSync(path.join(dir, name)).toString('latin1'))
      .join('\n');
  return { emulator, dir, warehouse, cli, stateText };
}

export function describeDestinationContract<E extends HttpEmulator>(spec: DestinationCase<E>): void {
  const keysReceived = (emulator: E) => emulator.received.map((request) => spec.keyOf(request.body as Record<string, unknown>));

  describe(`${spec.type}: what every destination does`, () => {
    it('reports a record that breaks a documented constraint as invalid in plan, and never sends it', async () => {
      const rows = people(6).map((row) => (row.id === 4 ? { ...row, ...spec.invalid.change } : row));
      const { emulator, cli } = await setup(spec, { rows });

      const plan = await cli('plan', '--json');
      expect(plan.code).toBe(2);
      const document = JSON.parse(plan.stdout);
      expect(document.syncs[0].counts).toMatchObject({ added: 5, invalid: 1 });
      const invalid = document.syncs[0].records.find((record: { key: string }) => record.key === '4');
      expect(invalid.class).toBe('invalid');
      expect(invalid.reason).toContain(spec.invalid.reason);

      const sync = await cli('sync');
      expect(sync.code).toBe(0);
      expect(sync.stdout).toContain('invalid 1');
      expect(keysReceived(emulator).sort()).toEqual(['1', '2', '3', '5', '6']);
      expect(emulator.received).toHaveLength(5);
    });

    it('records a 400 as a rejection with the vendor’s words, and sends the record again on the next run', async () => {
      const { emulator, cli, stateText } = await setup(spec);
      emulator.inject(spec.rejection.fault, 1, (request) => spec.keyOf(request.body as Record<string, unknown>) === '3');

      const first = await cli('sync');
      expect(first.code).toBe(3);
      expect(first.stdout).toContain(`✗ 3: HTTP 400: ${spec.rejection.reason}`);
      expect(keysReceived(emulator).filter((key) => key === '3')).toHaveLength(1); // a 400 is not retried within the run

      const rejected = await cli('rejected', '--json');
      expect(rejected.code).toBe(0);
      expect(JSON.parse(rejected.stdout).rejected).toEqual([
        expect.objectContaining({ sync: 'people', key: '3', status: 400, reason: `HTTP 400: ${spec.rejection.reason}` }),
      ]);

      const plan = await cli('plan', '--json');
      expect(plan.code).toBe(2);
      expect(JSON.parse(plan.stdout).syncs[0].records).toEqual([expect.objectContaining({ key: '3', class: 'retry' })]);

      const second = await cli('sync');
      expect(second.code).toBe(0);
      expect(keysReceived(emulator)).toHaveLength(11);
      expect(keysReceived(emulator).at(-1)).toBe('3');
      for (const secret of spec.secrets) expect(stateText()).not.toContain(secret);
    });

    it('stops the sync at once when the vendor refuses the credentials or the account', async () => {
      const { emulator, cli, stateText } = await setup(spec, { rows: people(30) });
      spec.refuse(emulator);

      const result = await cli('sync');
      expect(result.code).toBe(1);
      expect(result.stdout).toContain(spec.refusal);
      expect(result.stdout).toContain('The sync stopped');
      // Only what was already on its way (concurrency 4, a few queued) went out; nothing was confirmed.
      expect(emulator.received.length).toBeLessThanOrEqual(8);
      expect(emulator.accepted).toBe(0);
      const status = await cli('status', '--json');
      expect(JSON.parse(status.stdout).syncs[0]).toMatchObject({ records: 0, lastRun: { outcome: 'stopped' } });
      for (const secret of spec.secrets) expect(stateText()).not.toContain(secret);
    });

    it('retries 429 and 5xx answers within the run until the records are confirmed', async () => {
      const { emulator, cli } = await setup(spec);
      for (const fault of spec.passing) emulator.inject(fault, 1);

      const result = await cli('sync');
      expect(result.code).toBe(0);
      expect(emulator.received).toHaveLength(10 + spec.passing.length);
      expect(new Set(keysReceived(emulator)).size).toBe(10);
      expect(emulator.accepted).toBe(10);
    });

    it('waits as long as Retry-After says before trying again', async () => {
      const { emulator, cli } = await setup(spec, { rows: people(3) });
      const [tooMany] = spec.passing;
      emulator.inject(
        { ...tooMany, headers: { ...(tooMany.kind === 'status' ? tooMany.headers : {}), 'Retry-After': '1' } } as Fault,
        1,
        (request) => spec.keyOf(request.body as Record<string, unknown>) === '2',
      );

      const result = await cli('sync');
      expect(result.code).toBe(0);
      const attempts = emulator.received.filter((request) => spec.keyOf(request.body as Record<string, unknown>) === '2');
      expect(attempts).toHaveLength(2);
      expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(990);
    });

    it('never exceeds the configured requests per second', async () => {
      // In-process, so the test sees the departures the destination's rate limiter hands out (where
      // the product makes its promise) beside what the emulator received (see test/helpers/pacing.ts).
      const { emulator, dir } = await setup(spec, { rows: people(40), requestsPerSecond: 20 });
      const workspace = workspaceFor(fs.readFileSync(path.join(dir, 'backflow.yaml'), 'utf8'), dir, spec.env);
      const sync = workspace.syncNamed('people');
      const pacing = recordPacing(workspace.destination(sync).limiter);

      const summary = await runSync(workspace, sync);
      expect(summary).toMatchObject({ outcome: 'success', counts: { sent: 40 } });
      expect(emulator.accepted).toBe(40);
      expectPaced(
        pacing,
        emulator.received.map((request) => request.at),
        20,
      );
    });
  });
}
