// `backflow sandbox [-- sync|plan|daemon …]`: the user's own config, end to end, against the strict
// local emulators in sandbox/ instead of the vendors. Each destination's base URL points at its
// emulator (127.0.0.1, a free port) with a fake credential; alerts are dropped; the state is a fresh
// temporary file, removed afterwards. The sources are the real ones: the point is your data.
// The command runs as a child process (the real CLI, told by BACKFLOW_SANDBOX what to override) so
// its output, exit code and Ctrl-C handling are exactly those of the command it runs; the emulators'
// report follows its output (with --json, one document: the command's, plus "sandbox").
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sandboxFor, sandboxTypes, type SandboxEmulator } from '../../../sandbox/index.js';
import type { ConfigOverrides } from '../../config/load.js';
import { UsageError } from '../../errors.js';
import { load, SANDBOX_ENV, type GlobalOptions } from '../context.js';
import { n, print, printError, printJson } from '../output.js';

/** The commands a sandbox can run: the ones that read the sources and send. */
const COMMANDS = ['sync', 'plan', 'daemon'];

export interface SandboxCommandOptions extends GlobalOptions {
  /** The command to run and its options, e.g. ['sync', '--full']; empty means sync. */
  args: string[];
}

interface Started {
  destination: string;
  type: string;
  url: string;
  sandbox: SandboxEmulator;
}

export interface SandboxReport {
  destination: string;
  type: string;
  url: string;
  /** Requests that reached the emulator, those it answered 2xx, and the others. */
  requests: number;
  accepted: number;
  refused: number;
  holds: Record<string, number>;
}

export async function sandboxCommand(options: SandboxCommandOptions): Promise<number> {
  const [command = 'sync', ...rest] = options.args;
  if (!COMMANDS.includes(command)) {
    throw new UsageError(`backflow sandbox runs ${COMMANDS.join(', ')} (default sync), not "${command}": e.g. backflow sandbox -- sync --full`);
  }
  // Only the destination types are needed here: the command itself checks the whole config.
  const destinations = Object.entries(load(options, false).config.destinations as Record<string, { type: string }>);
  const started: Started[] = [];
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backflow-sandbox-'));
  try {
    for (const [destination, { type }] of destinations) {
      const sandbox = sandboxFor(type);
      if (!sandbox)
        throw new UsageError(`destination "${destination}": there is no sandbox emulator for type ${type} (there is one for ${sandboxTypes.join(', ')})`);
      started.push({ destination, type, url: await sandbox.emulator.start(), sandbox });
    }
    const overrides: ConfigOverrides = {
      destinations: Object.fromEntries(started.map((entry) => [entry.destination, entry.sandbox.settings(entry.url)])),
      statePath: path.join(dir, 'state.db'),
    };
    if (!options.json) {
      print('Sandbox: nothing goes to a real vendor; alerts are off; the state is a fresh temporary file.');
      for (const entry of started) print(`  ${entry.destination} (${entry.type}) → ${entry.url}`);
      print();
    }
    const child = await runChild([command, ...rest], options, overrides);
    const reports = started.map(report);
    if (options.json) printJson({ ...parseOutput(child.stdout), sandbox: { destinations: reports } });
    else describe(reports);
    return child.code;
  } finally {
    await Promise.all(started.map((entry) => entry.sandbox.emulator.stop()));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs the real CLI on the command; with --json its output is captured to be merged with the report. */
async function runChild(args: string[], options: GlobalOptions, overrides: ConfigOverrides): Promise<{ code: number; stdout: string }> {
  const cliArgs = ['--config', options.config, ...(options.json ? ['--json'] : []), ...args];
  // Its own process group: a Ctrl-C at the terminal reaches only this process, which passes each
  // signal on once, so the child sees exactly the signals the user sent (a second Ctrl-C is a second).
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1], ...cliArgs], {
    // stdin: a pipe we never write, so the child sees it end if this process dies (see context.ts).
    stdio: ['pipe', options.json ? 'pipe' : 'inherit', 'inherit'],
    env: { ...process.env, [SANDBOX_ENV]: JSON.stringify(overrides) },
    detached: true,
  });
  let stdout = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
  const forward = (signal: NodeJS.Signals) => child.kill(signal);
  for (const signal of signals) process.on(signal, forward);
  try {
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (status, signal) => resolve(status ?? 128 + (signal ? os.constants.signals[signal] : 0)));
    });
    return { code, stdout };
  } finally {
    for (const signal of signals) process.off(signal, forward);
  }
}

function parseOutput(stdout: string): Record<string, unknown> {
  try {
    return JSON.parse(stdout) as Record<string, unknown>;
  } catch {
    // The command ended before printing its JSON (e.g. a forced exit): keep what it printed.
    return stdout.trim() ? { output: stdout } : {};
  }
}

function report({ destination, type, url, sandbox }: Started): SandboxReport {
  const requests = sandbox.emulator.received.length;
  const accepted = sandbox.emulator.accepted;
  return { destination, type, url, requests, accepted, refused: requests - accepted, holds: sandbox.holds() };
}

function describe(reports: SandboxReport[]): void {
  print();
  print('The sandbox emulators received:');
  for (const entry of reports) {
    const holds = Object.entries(entry.holds)
      .map(([what, count]) => `${n(count)} ${what}`)
      .join(', ');
    print(
      `  ${entry.destination} (${entry.type}): ${n(entry.requests)} request${entry.requests === 1 ? '' : 's'}, ${n(entry.accepted)} accepted, ${n(entry.refused)} refused; holds ${holds}`,
    );
  }
  if (reports.length === 0) printError('The config has no destinations: nothing was emulated.');
}
