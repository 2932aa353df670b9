// Failures of the file system and of YAML the user meets first: each becomes one message saying what
// to do, never a raw Node error, a stack trace or a cascade of parser errors.
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, tempDir, writeFile } from './helpers/index.js';

const RAW = /\bE[A-Z]{3,}\b|at .*\(node:|node:internal/;

describe('a config path that is not a readable file', () => {
  it('names the folder and tells which file to pass', async () => {
    const dir = tempDir();
    const result = await runCli(['--config', dir, 'validate']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `${dir}:1:1: cannot read the config: ${dir} is a folder, not a file (pass the YAML file, e.g. --config ${path.join(dir, 'backflow.yaml')})`,
    );
  });

  it('points at config.example.yaml when the file is empty or only comments', async () => {
    const dir = tempDir();
    for (const text of ['', '# to do\n']) {
      const config = writeFile(dir, 'backflow.yaml', text);
      const result = await runCli(['--config', config, 'validate']);
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(
        `${config}:1:1: the config file is empty: start from config.example.yaml (cp config.example.yaml backflow.yaml) and edit it`,
      );
    }
  });
});

describe('an unquoted ${VAR} inside a { } flow map', () => {
  it('is one line with the quoting hint, not a cascade of YAML errors', async () => {
    const dir = tempDir();
    const config = writeFile(
      dir,
      'backflow.yaml',
      'version: 1\nsources:\n  warehouse: { type: postgres, url: ${WAREHOUSE_URL} }\ndestinations: {}\nsyncs: []\n',
    );
    const result = await runCli(['--config', config, 'validate']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toEqual([
      `${config}:3:37: YAML syntax: \${WAREHOUSE_URL} inside { } must be quoted: write "\${WAREHOUSE_URL}" (an unquoted { starts a nested map)`,
    ]);
  });

  it('is accepted once quoted', async () => {
    const dir = tempDir();
    const config = writeFile(dir, 'backflow.yaml', 'version: 1\nsources:\n  warehouse: { type: sqlite, path: "${DB_PATH}" }\ndestinations: {}\nsyncs: []\n');
    const result = await runCli(['--config', config, 'validate'], { env: { DB_PATH: './w.db' } });
    expect(result.stderr).not.toContain('YAML syntax');
  });
});

describe('a cron field out of range', () => {
  it('refuses */61 (node-cron alone accepts it) with the field and its range', async () => {
    const { dir, emulator } = await gamifyWarehouse(1);
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url, syncExtra: '    schedule: "*/61 * * * *"' }));
    const result = await runCli(['--config', config, 'validate']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/schedule: "\*\/61 \* \* \* \*" is not a valid cron expression: minute field "\*\/61": step \/61 is out of range \(1-60\)/);
  });
});

describe('plan files and the state folder', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(3));
    config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
  });

  it('says a plan file to send does not exist and how to make it', async () => {
    const result = await runCli(['--config', config, 'sync', '--plan', 'missing.plan'], { cwd: dir });
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe('error: cannot read the plan missing.plan: the file does not exist: make it with backflow plan --out missing.plan');
    expect(emulator.received).toHaveLength(0);
  });

  it('says why a plan cannot be written: a missing folder, a folder in place of the file', async () => {
    const missing = await runCli(['--config', config, 'plan', '--out', 'nowhere/x.plan'], { cwd: dir });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error: cannot write the plan to nowhere/x.plan: the folder nowhere does not exist: create it or choose another path');
    fs.mkdirSync(path.join(dir, 'plans'));
    const folder = await runCli(['--config', config, 'plan', '--out', 'plans'], { cwd: dir });
    expect(folder.code).toBe(1);
    expect(folder.stderr).toContain(`error: cannot write the plan to plans: it is a folder: pass a file name, e.g. ${path.join('plans', 'plan.jsonl')}`);
    expect(missing.stderr + folder.stderr).not.toMatch(RAW);
  });

  it('says a file is in the way of the state folder, and sends nothing', async () => {
    writeFile(dir, 'blocker', 'not a folder');
    const blocked = writeFile(dir, 'blocked.yaml', fs.readFileSync(config, 'utf8').replace('./state.db', './blocker/state.db'));
    const result = await runCli(['--config', blocked, 'sync']);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `error: cannot create the state folder ${path.join(dir, 'blocker')}: a file is in the way (${path.join(dir, 'blocker')}); move it, or set state.path to another folder`,
    );
    expect(emulator.received).toHaveLength(0);
  });
});

describe('output piped into a reader that stops early (| head)', () => {
  it('exits quietly with the command’s own code: no EPIPE, no stack trace', async () => {
    const { dir, emulator } = await gamifyWarehouse(3000);
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
    const child = spawnCli(['--config', config, 'plan', '--show', '3000']);
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // Like head -1: read the first chunk, then close the pipe.
    await once(child.stdout, 'data');
    child.stdout.destroy();
    const [code] = (await once(child, 'close')) as [number | null];
    expect(stderr).toBe('');
    expect(code).toBe(2);
  });
});
