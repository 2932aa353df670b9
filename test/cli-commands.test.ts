// The smaller CLI points of issue 20: `init` writes a starter config that `validate` accepts; each
// subcommand's help lists --config and --json with examples and exit codes; `reset` asks on a
// terminal (only "yes" confirms), needs --yes without one, and is recorded in `runs`; tables show
// thousands separators and relative times.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ChangeSignal } from './helpers/wait.js';
import { gamifyConfig, gamifyWarehouse, REPO, runCli, spawnCli, sqliteRows, tempDir, waitUntil, writeFile } from './helpers/index.js';

const CLI = path.join(REPO, 'dist', 'src', 'cli', 'main.js');

describe('backflow init', () => {
  it('writes a starter config for the chosen source and destinations, which validate accepts once its variables are set', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'config', 'backflow.yaml');
    const init = await runCli(['-c', file, 'init', '--source', 'postgres', '--destination', 'vitally,userpilot', '--destination', 'segment']);
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('Set WAREHOUSE_URL, VITALLY_SUBDOMAIN, VITALLY_TOKEN, USERPILOT_API_KEY, SEGMENT_WRITE_KEY, then: backflow validate');
    const env = {
      WAREHOUSE_URL: 'postgres://root@127.0.0.1:5432/test',
      VITALLY_SUBDOMAIN: 'acme',
      VITALLY_TOKEN: 't',
      USERPILOT_API_KEY: 'k',
      SEGMENT_WRITE_KEY: 'w',
    };
    const validate = await runCli(['-c', file, 'validate'], { env });
    expect(validate).toMatchObject({ code: 0, stdout: expect.stringContaining('valid (3 syncs)') });
    // Without the variables, validate names each one missing.
    const missing = await runCli(['-c', file, 'validate']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('VITALLY_TOKEN');
  });

  it('never overwrites a file, and refuses an unknown type, leaving nothing behind', async () => {
    const dir = tempDir();
    const file = writeFile(dir, 'backflow.yaml', '# mine\n');
    const again = await runCli(['-c', file, 'init', '--source', 'sqlite', '--destination', 'gamifyhost']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('already exists: init never overwrites a config');
    expect(fs.readFileSync(file, 'utf8')).toBe('# mine\n');
    const other = path.join(dir, 'other.yaml');
    const unknown = await runCli(['-c', other, 'init', '--source', 'sqlite', '--destination', 'hubspot']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('--destination hubspot: unknown type; expected one of gamifyhost, appizer');
    expect(fs.existsSync(other)).toBe(false);
  });
});

describe('subcommand help', () => {
  it.each(['init', 'validate', 'plan', 'sync', 'trigger', 'sandbox', 'daemon', 'ingest', 'status', 'runs', 'rejected', 'reset', 'unlock'])(
    '%s --help lists --config and --json, examples and exit codes',
    async (command) => {
      const help = await runCli([command, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('-c, --config <file>');
      expect(help.stdout).toContain('--json');
      expect(help.stdout).toMatch(new RegExp(`Examples:\\n  \\$ backflow .*${command === 'test' ? 'alert test' : command}`));
      expect(help.stdout).toMatch(/Exit codes:\n {2}\S/);
    },
  );
});

describe('backflow reset', () => {
  async function syncedState(count: number) {
    const { dir, emulator } = await gamifyWarehouse(count);
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
    expect((await runCli(['-c', config, 'sync'])).code).toBe(0);
    return { dir, config, records: () => sqliteRows<{ n: number }>(path.join(dir, 'state.db'), 'select count(*) as n from records')[0].n };
  }

  it('without a terminal needs --yes, and with it forgets and is recorded in runs', async () => {
    const { config, records } = await syncedState(3);
    const refused = await runCli(['-c', config, 'reset', '--sync', 'users']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('reset forgets the 3 records sync users has sent, its rejections and its cursor: confirm with --yes');
    expect(records()).toBe(3);

    const reset = await runCli(['-c', config, 'reset', '--sync', 'users', '--yes']);
    expect(reset).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Forgot 3 records of sync users \(run 2\)/) });
    expect(records()).toBe(0);
    const runs = await runCli(['-c', config, 'runs']);
    expect(runs.stdout).toMatch(/2 +users +just now +just now +reset +forgot 3 records/);
    const json = JSON.parse((await runCli(['-c', config, '--json', 'runs'])).stdout) as { runs: { outcome: string; counts: object }[] };
    expect(json.runs[0]).toMatchObject({ outcome: 'reset', counts: { forgotten: 3 } });
  });

  /** reset in a real pseudo-terminal (util-linux `script`), answering `answer` to its question. */
  async function resetOnTerminal(config: string, answer: string): Promise<{ code: number; screen: string }> {
    const terminal = spawn(
      'script',
      ['-qfec', `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} -c ${JSON.stringify(config)} reset --sync users`, '/dev/null'],
      {
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    const closed = once(terminal, 'close');
    onTestFinished(async () => {
      if (terminal.exitCode === null && terminal.signalCode === null) terminal.kill('SIGKILL');
      await closed.catch(() => undefined);
    });
    let screen = '';
    const changes = new ChangeSignal();
    terminal.stdout.on('data', (chunk) => {
      screen += chunk;
      changes.notify();
    });
    await waitUntil('the question', () => screen.includes('Enter a value:'), changes);
    terminal.stdin.write(`${answer}\r`);
    const [code] = (await closed) as [number];
    return { code, screen };
  }

  it('on a terminal asks first: anything but "yes" cancels, "yes" forgets', async () => {
    const { config, records } = await syncedState(1200);
    const cancelled = await resetOnTerminal(config, 'y');
    expect(cancelled.screen).toContain('Forget the 1,200 records sync users has sent, its rejections and its cursor? The next run sends everything again.');
    expect(cancelled.screen).toContain('Reset cancelled: nothing was changed.');
    expect(cancelled.code).toBe(1);
    expect(records()).toBe(1200);

    // Tables: thousands separators and relative times.
    const status = await runCli(['-c', config, 'status']);
    expect(status.stdout).toMatch(/users +gamify +1,200 +(just now|\d+ s ago) +success +sent 1,200, rejected 0/);

    const confirmed = await resetOnTerminal(config, 'yes');
    expect(confirmed.code).toBe(0);
    expect(confirmed.screen).toContain('Forgot 1,200 records of sync users');
    expect(records()).toBe(0);
  });
});

describe('backflow status during a sync', () => {
  it('shows the running run with its live counts', async () => {
    const { dir, emulator } = await gamifyWarehouse(40);
    // Held answers must outlast the status commands run meanwhile: no request timeout in the way.
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }).replace('timeoutSeconds: 2', 'timeoutSeconds: 600'));
    // Mid-run: 5 records confirmed, the next answers held.
    const off = emulator.onChange(() => {
      if (emulator.accepted < 5) return;
      off();
      emulator.hold();
    });
    const sync = spawnCli(['-c', config, 'sync']);
    await waitUntil('5 records accepted', () => emulator.accepted >= 5, emulator);
    const live = await waitUntil('status to show the live counts', async () => {
      const status = await runCli(['-c', config, 'status']);
      const match = /users +gamify +\d+ +(just now|\d+ s ago) +running +sent (\d+),/.exec(status.stdout);
      return match && Number(match[2]) >= 5 ? Number(match[2]) : undefined;
    });
    expect(live).toBeLessThan(40);
    emulator.release();
    const [code] = (await once(sync, 'close')) as [number];
    expect(code).toBe(0);
    expect((await runCli(['-c', config, 'status'])).stdout).toMatch(/users +gamify +40 +\S.* +success +sent 40,/);
  });
});
