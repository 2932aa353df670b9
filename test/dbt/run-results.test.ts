// sync --dbt-run-results: after a dbt job, only the syncs whose models it built successfully run; the
// others are listed with the reason, and the exit code says whether dbt failed any of them.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyWarehouse, runCli, sqliteTable, users, writeFile } from '../helpers/index.js';
import { nodeId, runResults, testId, withSchemaVersion, writeManifest, writeRunResults, type NodeResult, type RunResultsVersion } from './artifacts.js';
import { dbtConfig, modelSync } from './config-text.js';

const UNIQUE_ID = { kind: 'unique' as const, column: 'id' };
const DIM_USERS = nodeId('dim_users');
const DIM_ACCOUNTS = nodeId('dim_accounts');
const USERS_UNIQUE = testId(UNIQUE_ID, 'dim_users');

/**
 * A warehouse with users and accounts, a manifest whose dim_users and dim_accounts build them (and
 * fct_orders, which no sync reads), and three syncs: two read those models, one reads a query.
 */
async function project(): Promise<{ dir: string; file: string; emulator: GamifyHostEmulator }> {
  const { dir, emulator } = await gamifyWarehouse(3);
  sqliteTable(path.join(dir, 'warehouse.db'), 'accounts', users(2));
  writeManifest(dir, {
    adapter: 'sqlite',
    models: [
      { name: 'dim_users', relation: 'main."users"', tests: [UNIQUE_ID] },
      { name: 'dim_accounts', relation: 'main."accounts"', meta: { backflow: { primary_key: 'id' } } },
      { name: 'fct_orders', relation: 'main."orders"' },
    ],
  });
  const syncs = [
    modelSync('users', 'dim_users'),
    modelSync('accounts', 'dim_accounts', '', '{ template: "acct-{{id}}" }'),
    `  - name: crm
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: gamify
    mapping: { externalId: { template: "crm-{{id}}" } }
`,
  ];
  return { dir, emulator, file: writeFile(dir, 'backflow.yaml', dbtConfig({ url: emulator.url, syncs: syncs.join('') })) };
}

const sent = (emulator: GamifyHostEmulator) => emulator.sentBodies.map((body) => body.externalId).sort();

async function syncAfter(dir: string, file: string, results: NodeResult[], args: string[] = [], version?: RunResultsVersion) {
  writeRunResults(dir, { version, results });
  return runCli(['sync', '-c', file, '--dbt-run-results', path.join(dir, 'target/run_results.json'), ...args]);
}

describe('sync --dbt-run-results', () => {
  it.each([4, 5, 6] as const)('runs the syncs whose models a dbt run built (run results v%i) and lists the others with the reason', async (version) => {
    const { dir, file, emulator } = await project();
    const result = await syncAfter(
      dir,
      file,
      [
        { uniqueId: DIM_USERS, status: 'success' },
        { uniqueId: USERS_UNIQUE, status: 'pass' },
        { uniqueId: DIM_ACCOUNTS, status: 'success' },
        // Built by dbt, read by no sync: nothing to do.
        { uniqueId: nodeId('fct_orders'), status: 'success' },
      ],
      [],
      version,
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^dbt run \S+run_results\.json \(invocation [\w-]+, 2026-03-01T06:00:03\.000000Z\): 2 syncs to run, 1 skipped$/m);
    expect(result.stdout).toContain('  skipped crm: reads a query, not a dbt model\n');
    expect(result.stdout).toContain('Sync users: success');
    expect(result.stdout).toContain('Sync accounts: success');
    expect(sent(emulator)).toEqual(['1', '2', '3', 'acct-1', 'acct-2']);
  });

  it("skips a sync whose model dbt failed or skipped, with dbt's words, syncs the rest, and exits 1", async () => {
    const { dir, file, emulator } = await project();
    const failed = await syncAfter(dir, file, [
      { uniqueId: DIM_USERS, status: 'error', message: 'Database Error in model dim_users (models/marts/dim_users.sql)\n  division by zero' },
      { uniqueId: USERS_UNIQUE, status: 'skipped', message: null },
      { uniqueId: DIM_ACCOUNTS, status: 'success' },
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(
      '  skipped users: dbt failed to build model shop.dim_users: Database Error in model dim_users (models/marts/dim_users.sql)\n',
    );
    expect(sent(emulator)).toEqual(['acct-1', 'acct-2']);

    const skipped = await syncAfter(dir, file, [
      { uniqueId: nodeId('stg_users'), status: 'error' },
      { uniqueId: DIM_USERS, status: 'skipped', message: null },
    ]);
    expect(skipped.code).toBe(1);
    expect(skipped.stdout).toContain('  skipped users: dbt skipped model shop.dim_users (a node it depends on, or a unit test of it, failed)\n');
    expect(skipped.stdout).toContain('  skipped accounts: dbt did not build model shop.dim_accounts in this run\n');
    expect(sent(emulator)).toEqual(['acct-1', 'acct-2']);
  });

  it('skips a model only in part built (microbatch partial success) as failed', async () => {
    const { dir, file, emulator } = await project();
    const result = await syncAfter(dir, file, [{ uniqueId: DIM_USERS, status: 'partial success', message: 'PARTIAL SUCCESS (2/3)' }]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('  skipped users: dbt built model shop.dim_users only in part (some microbatch batches failed): PARTIAL SUCCESS (2/3)\n');
    expect(sent(emulator)).toEqual([]);
  });

  it('exits 0 when the models it skips were only not in this run (a dbt build --select of other models)', async () => {
    const { dir, file, emulator } = await project();
    const result = await syncAfter(dir, file, [{ uniqueId: nodeId('fct_orders'), status: 'success' }]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(': 0 syncs to run, 3 skipped');
    expect(result.stdout).toContain('  skipped users: dbt did not build model shop.dim_users in this run\n');
    expect(sent(emulator)).toEqual([]);
  });

  it('holds a model back when a test on it failed, and runs it with a warning when a test only warned', async () => {
    const { dir, file, emulator } = await project();
    const failedTest = await syncAfter(dir, file, [
      { uniqueId: DIM_USERS, status: 'success' },
      { uniqueId: USERS_UNIQUE, status: 'fail', message: 'Got 2 results, configured to fail if != 0' },
    ]);
    expect(failedTest.code).toBe(1);
    expect(failedTest.stdout).toContain(
      '  skipped users: dbt built model shop.dim_users, but its tests failed: unique_dim_users_id (fail): Got 2 results, configured to fail if != 0\n',
    );
    expect(sent(emulator)).toEqual([]);

    const warned = await syncAfter(dir, file, [
      { uniqueId: DIM_USERS, status: 'success' },
      { uniqueId: USERS_UNIQUE, status: 'warn', message: 'Got 1 result, configured to warn if != 0' },
    ]);
    expect(warned.code).toBe(0);
    expect(warned.stdout).toContain('  warning users: dbt test unique_dim_users_id warned: Got 1 result, configured to warn if != 0\n');
    expect(sent(emulator)).toEqual(['1', '2', '3']);
  });

  it('considers only the sync named by --sync, and says so in --json', async () => {
    const { dir, file, emulator } = await project();
    const result = await syncAfter(
      dir,
      file,
      [
        { uniqueId: DIM_USERS, status: 'error', message: 'Compilation Error' },
        { uniqueId: DIM_ACCOUNTS, status: 'success' },
      ],
      ['--sync', 'accounts', '--json'],
    );
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout) as { runs: { sync: string; outcome: string }[]; dbt: { skipped: unknown[]; warnings: unknown[] } };
    expect(output.runs.map((run) => [run.sync, run.outcome])).toEqual([['accounts', 'success']]);
    expect(output.dbt).toMatchObject({ skipped: [], warnings: [] });
    expect(sent(emulator)).toEqual(['acct-1', 'acct-2']);

    const all = await syncAfter(dir, file, [{ uniqueId: DIM_USERS, status: 'error', message: 'Compilation Error' }], ['--json']);
    expect(all.code).toBe(1);
    expect((JSON.parse(all.stdout) as { dbt: { skipped: unknown[] } }).dbt.skipped).toEqual([
      { sync: 'users', reason: 'model-failed', message: 'dbt failed to build model shop.dim_users: Compilation Error', failed: true },
      { sync: 'accounts', reason: 'not-in-run', message: 'dbt did not build model shop.dim_accounts in this run', failed: false },
      { sync: 'crm', reason: 'not-a-model', message: 'reads a query, not a dbt model', failed: false },
    ]);
  });

  it('refuses run results it cannot read, of another schema version, beside --plan, or without a manifest, and sends nothing', async () => {
    const { dir, file, emulator } = await project();
    const resultsFile = path.join(dir, 'target/run_results.json');
    const refusals: [() => void, string[], string][] = [
      [() => fs.rmSync(resultsFile, { force: true }), [], `cannot read the dbt run results ${resultsFile}: file not found. Run dbt build in the dbt project`],
      [() => fs.writeFileSync(resultsFile, '{"results": ['), [], `the dbt run results ${resultsFile} is not valid JSON`],
      [
        () => fs.writeFileSync(resultsFile, JSON.stringify(withSchemaVersion(runResults({ results: [] }), 'run-results', 3))),
        [],
        `${resultsFile} is dbt run results v3, written by dbt 1.5.11; Backflow reads dbt run results v4, v5, v6 (dbt 1.6 to 1.10): upgrade dbt and run dbt build again`,
      ],
      [
        () => fs.writeFileSync(resultsFile, JSON.stringify(withSchemaVersion(runResults({ results: [] }), 'run-results', 7))),
        [],
        `${resultsFile} is dbt run results v7, written by dbt 1.12.0; Backflow reads dbt run results v4, v5, v6 (dbt 1.6 to 1.10): upgrade Backflow`,
      ],
      [() => writeRunResults(dir, { results: [] }), ['--plan', 'plan.jsonl'], '--plan sends exactly a saved plan: it does not combine with --dbt-run-results'],
    ];
    for (const [prepare, args, message] of refusals) {
      prepare();
      const result = await runCli(['sync', '-c', file, '--dbt-run-results', resultsFile, ...args]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`error: ${message}`);
      // Refused before the state is opened: no empty state file is left behind.
      expect(fs.existsSync(path.join(dir, 'state.db'))).toBe(false);
    }
    fs.writeFileSync(
      file,
      fs
        .readFileSync(file, 'utf8')
        .replace(/dbt:\n {2}manifest: .*\n/, '')
        .replace(/model: dim_\w+/g, 'query: select * from users\n    primaryKey: id'),
    );
    const noManifest = await runCli(['sync', '-c', file, '--dbt-run-results', resultsFile]);
    expect(noManifest.code).toBe(1);
    expect(noManifest.stderr).toContain(`error: --dbt-run-results needs the dbt manifest: add dbt: { manifest: ./target/manifest.json } to ${file}`);
    expect(sent(emulator)).toEqual([]);
  });
});
