// `sync`'s progress on a real terminal: the CLI runs under util-linux `script`, which gives it a
// pseudo-terminal, and the test reads what the terminal was sent. Log lines (retries while the
// vendor throttles) are printed above the bar, never into it; a saved plan shows its total and an
// ETA; without a terminal, or with --json, no bar and no escape code is written.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, REPO, runCli, writeFile } from './helpers/index.js';

const CLI = path.join(REPO, 'dist', 'src', 'cli', 'main.js');

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const quote = (word: string) => `'${word.replace(/'/g, `'\\''`)}'`;

/** Runs the built CLI on a pseudo-terminal of 160 columns; resolves with everything the terminal received. */
async function onTerminal(args: string[]): Promise<{ code: number; output: string }> {
  const command = `stty cols 160 rows 40; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}`;
  // CI unset: the bar is for people at a terminal, and CI=true turns it off.
  const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { ...process.env, CI: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  const closed = once(child, 'close');
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await closed.catch(() => undefined);
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const [code] = (await closed) as [number | null];
  return { code: code ?? 1, output };
}

/**
 * What the terminal shows, as pieces of text each written from the start of a cleared line: cursor
 * moves to column 1 and line clears start a new piece; other escape codes are dropped. A log line
 * written after the bar without going back to the start of the line would share a piece with it.
 */
function pieces(output: string): string[] {
  return (
    output
      // eslint-disable-next-line no-control-regex -- terminal escape codes are what is parsed here
      .replace(/\x1b\[\d*G|\x1b\[2K|\x1b\[0?K/g, '\r')
      // eslint-disable-next-line no-control-regex -- as above
      .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '')
      .split(/\r|\n/)
      .filter((piece) => piece.trim() !== '')
  );
}

describe.skipIf(!hasScript())('sync progress on a terminal', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(40));
    config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
  });

  it('prints log lines above the bar while the vendor throttles, never on the bar’s line, and an intact summary', async () => {
    // The vendor throttles 6 requests: each retry is logged while the bar is drawn.
    emulator.inject({ kind: 'status', status: 429, body: { status: 'error', message: 'slow down' } }, 6);
    const { code, output } = await onTerminal(['--config', config, 'sync']);
    expect(code).toBe(0);
    const shown = pieces(output);
    const bars = shown.filter((piece) => piece.includes('records/s'));
    const logs = shown.filter((piece) => piece.includes('retrying a request'));
    expect(bars.length).toBeGreaterThan(0);
    expect(bars[0]).toMatch(/^users: read [\d,]+ \| [\d,]+ records\/s \| sent [\d,]+ · rejected 0 · failed 0 · unchanged 0 · invalid 0/);
    expect(logs).toHaveLength(6);
    // Each log line starts its own line (its time first) and holds nothing of the bar.
    for (const line of logs) expect(line).toMatch(/^\d\d:\d\d:\d\d WARN {2}\[users #1\] retrying a request destination=gamify reason="HTTP 429" key=\d+$/);
    for (const bar of bars) expect(bar).not.toMatch(/WARN|retrying/);
    // The summary is whole, each line its own.
    expect(shown).toContain('  read 40  sent 40  rejected 0  failed 0  unchanged 0  invalid 0  removed 0');
    expect(shown.find((piece) => piece.startsWith('Sync users:'))).toMatch(/^Sync users: success in [\d.]+s \(run 1\)$/);
  });

  it('shows a saved plan’s total, percentage and ETA, and counts its records as read', async () => {
    const planFile = path.join(dir, 'users.plan');
    expect((await runCli(['--config', config, 'plan', '--out', planFile])).code).toBe(2);
    const { code, output } = await onTerminal(['--config', config, 'sync', '--plan', planFile]);
    expect(code).toBe(0);
    const bars = pieces(output).filter((piece) => piece.includes('records/s'));
    expect(bars.length).toBeGreaterThan(0);
    for (const bar of bars) expect(bar).toMatch(/^users \[[█░]+\] +\d+% \| [\d,]+ of 40 records \| [\d,]+ records\/s \| ETA \S+ \| sent /);
    expect(pieces(output)).toContain('  read 40  sent 40  rejected 0  failed 0  unchanged 0  invalid 0  removed 0');
  });

  it('draws no bar with --json, even on a terminal', async () => {
    const { code, output } = await onTerminal(['--config', config, 'sync', '--json']);
    expect(code).toBe(0);
    expect(output).not.toContain('records/s');
    // eslint-disable-next-line no-control-regex -- no escape code at all
    expect(output).not.toMatch(/\x1b/);
  });

  it('writes no escape code when stdout and stderr are not terminals', async () => {
    emulator.inject({ kind: 'status', status: 429, body: { status: 'error', message: 'slow down' } }, 2);
    const result = await runCli(['--config', config, 'sync'], { env: { CI: '' } });
    expect(result.code).toBe(0);
    // eslint-disable-next-line no-control-regex -- no escape code at all
    expect(result.stdout + result.stderr).not.toMatch(/\x1b/);
    expect(result.stdout).toContain('  read 40  sent 40  rejected 0  failed 0  unchanged 0  invalid 0  removed 0\n');
  });
});
