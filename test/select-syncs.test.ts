// Choosing syncs: --sync takes several names (repeated or comma-separated), --select takes glob
// patterns; a name or a pattern that matches nothing is refused before anything is sent.
import { beforeEach, describe, expect, it } from 'vitest';
import type { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyWarehouse, runCli, writeFile } from './helpers/index.js';

const NAMES = ['users-eu', 'users-us', 'accounts'];

describe('choosing which syncs plan and sync run', () => {
  let emulator: GamifyHostEmulator;
  let config: string;

  beforeEach(async () => {
    let dir: string;
    ({ dir, emulator } = await gamifyWarehouse(2));
    const syncs = NAMES.map(
      (name) => `  - name: ${name}
    source: warehouse
    query: select id, name from users
    primaryKey: id
    destination: gamify
    mapping: { externalId: { column: id, transform: string }, displayName: name }`,
    ).join('\n');
    config = writeFile(
      dir,
      'backflow.yaml',
      `version: 1
state: { path: ./state.db }
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_secret_key_123, baseUrl: "${emulator.url}" }
syncs:
${syncs}
`,
    );
  });

  const planned = async (...args: string[]) => {
    const result = await runCli(['--config', config, 'plan', '--json', ...args]);
    expect(result.code, result.stderr).toBe(2);
    return (JSON.parse(result.stdout) as { syncs: { sync: string }[] }).syncs.map((plan) => plan.sync);
  };

  it('takes several names, repeated or comma-separated, in config order', async () => {
    expect(await planned('--sync', 'accounts', '--sync', 'users-eu')).toEqual(['users-eu', 'accounts']);
    expect(await planned('--sync', 'accounts,users-us')).toEqual(['users-us', 'accounts']);
  });

  it('takes glob patterns with --select, alone or with names', async () => {
    expect(await planned('--select', 'users-*')).toEqual(['users-eu', 'users-us']);
    expect(await planned('--select', 'users-{eu,xx}', '--sync', 'accounts')).toEqual(['users-eu', 'accounts']);
  });

  it('sync runs only the chosen syncs', async () => {
    const result = await runCli(['--config', config, 'sync', '--select', '*-us']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^Sync users-us: success/m);
    expect(result.stdout).not.toMatch(/Sync (users-eu|accounts)/);
    expect(emulator.sentBodies).toHaveLength(2);
  });

  it('refuses a pattern or a name that matches no sync, and sends nothing', async () => {
    const pattern = await runCli(['--config', config, 'sync', '--select', 'orders-*']);
    expect(pattern.code).toBe(1);
    expect(pattern.stderr.trim()).toBe('error: --select "orders-*" matches no sync: the syncs are users-eu, users-us, accounts');
    const name = await runCli(['--config', config, 'sync', '--sync', 'users-eu,user-us']);
    expect(name.code).toBe(1);
    expect(name.stderr).toContain('no sync named "user-us"');
    expect(emulator.received).toHaveLength(0);
  });
});
