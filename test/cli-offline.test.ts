// Reading history needs no secrets: status, runs, rejected, reset and unlock work without the
// warehouse's, the destination's or the alerts' variables in the environment; sync, plan and validate
// still name the one that is missing. No secret reaches the state or any output.
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, runCli, writeFile } from './helpers/index.js';

const KEY = 'pk_test_secret_key_123';
const ALERT_SECRET = 'alert-signing-secret-0123456789';

describe('commands that never connect', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;
  let secretsEnv: NodeJS.ProcessEnv;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(4));
    const alertUrl = 'http://127.0.0.1:9/hooks/T000/B000/alert-url-token';
    // The warehouse path, the API key and the alert's URL and secret all come from the environment.
    const text = gamifyConfig({ url: emulator.url, source: '{ type: sqlite, path: "${WAREHOUSE_PATH}" }' }).replace(
      'apiKey: ${GAMIFY_KEY:-pk_test_secret_key_123}',
      'apiKey: ${GAMIFY_KEY}',
    );
    config = writeFile(
      dir,
      'backflow.yaml',
      `${text}alerts:\n  - name: oncall\n    type: webhook\n    url: \${ALERT_URL}\n    secret: \${ALERT_SECRET}\n    on: [failed]\n`,
    );
    secretsEnv = { WAREHOUSE_PATH: path.join(dir, 'warehouse.db'), GAMIFY_KEY: KEY, ALERT_URL: alertUrl, ALERT_SECRET };
    emulator.inject({ kind: 'status', status: 400, body: { status: 'error', message: 'Invalid request body (phone)' } }, 1, (request) => {
      return (request.body as { externalId: string }).externalId === '3';
    });
    expect((await runCli(['--config', config, 'sync'], { env: secretsEnv })).code).toBe(3);
  });

  /** The CLI with none of the config's variables set (whatever the test runner's environment holds). */
  const withoutSecrets = (...args: string[]) =>
    runCli(['--config', config, ...args], { env: { WAREHOUSE_PATH: undefined, GAMIFY_KEY: undefined, ALERT_URL: undefined, ALERT_SECRET: undefined } });
  const noSecretIn = (text: string) => {
    for (const secret of [KEY, ALERT_SECRET, 'alert-url-token']) expect(text).not.toContain(secret);
  };

  it('status, runs and rejected read the history without the variables', async () => {
    const status = await withoutSecrets('status', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).syncs[0]).toMatchObject({ sync: 'users', destination: 'gamify', records: 3, lastRun: { outcome: 'partial' } });
    const table = await withoutSecrets('status');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('partial');

    const runs = await withoutSecrets('runs', '--json');
    expect(runs.code).toBe(0);
    expect(JSON.parse(runs.stdout).runs[0].issues).toEqual([{ key: '3', class: 'rejected', status: 400, reason: 'HTTP 400: Invalid request body (phone)' }]);

    const rejected = await withoutSecrets('rejected', '--sync', 'users');
    expect(rejected.code).toBe(0);
    expect(rejected.stdout).toContain('HTTP 400: Invalid request body (phone)');
    for (const result of [status, table, runs, rejected]) {
      expect(result.stderr).toBe('');
      noSecretIn(result.stdout);
    }
    noSecretIn(fs.readFileSync(path.join(dir, 'state.db'), 'latin1'));
  });

  it('reset and unlock change the state without the variables', async () => {
    const unlock = await withoutSecrets('unlock', '--sync', 'users');
    expect(unlock).toMatchObject({ code: 0, stdout: 'Sync users is not locked: nothing to do.\n' });
    const reset = await withoutSecrets('reset', '--sync', 'users', '--yes');
    expect(reset.code).toBe(0);
    expect(reset.stdout).toContain('Forgot 3 records of sync users');
  });

  it('sync, plan and validate still refuse, naming each unset variable where it is used', async () => {
    for (const command of ['sync', 'plan', 'validate']) {
      const result = await withoutSecrets(command);
      expect(result.code, command).toBe(1);
      expect(result.stderr).toMatch(/backflow\.yaml:4:\d+: sources\.warehouse\.path: environment variable WAREHOUSE_PATH is not set: export it/);
      expect(result.stderr).toMatch(/backflow\.yaml:8:\d+: destinations\.gamify\.apiKey: environment variable GAMIFY_KEY is not set/);
      expect(result.stderr).toContain('environment variable ALERT_URL is not set');
      expect(result.stderr).toContain('environment variable ALERT_SECRET is not set');
    }
    expect(emulator.received).toHaveLength(4);
  });

  it('a state-only command still refuses a config that is wrong for another reason', async () => {
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('primaryKey: id', 'primaryKey: 7'));
    const status = await withoutSecrets('status');
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/syncs\[0\]\.primaryKey: /);
    expect(status.stderr).not.toContain('is not set');
  });

  it('a variable the state itself needs is still required', async () => {
    fs.writeFileSync(config, fs.readFileSync(config, 'utf8').replace('state: { path: ./state.db }', 'state: { path: "${STATE_FILE}" }'));
    const status = await runCli(['--config', config, 'status'], { env: { STATE_FILE: undefined } });
    expect(status.code).toBe(1);
    expect(status.stderr).toContain('state.path: environment variable STATE_FILE is not set');
  });
});
