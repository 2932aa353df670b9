// Measuring helpers for bench/: wall time and peak RSS of a whole process (GNU time), the machine,
// percentiles, a printed table, and results written as JSON under bench/results/.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
/** The compiled CLI, run as a user runs it (`npm run build` first). */
export const cliPath = path.join(repoRoot, 'dist', 'src', 'cli', 'main.js');

export interface TimedRun {
  wallSeconds: number;
  /** User plus system CPU seconds of the process and its threads (the reader thread included). */
  cpuSeconds: number;
  peakRssMb: number;
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs a command under GNU time: its wall-clock seconds, CPU seconds and maximum resident set size. Asynchronous,
 * so an emulator in this process keeps answering the command's requests. Killed after `timeoutMs`.
 */
export function timeCommand(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<TimedRun> {
  const report = path.join(os.tmpdir(), `backflow-time-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/time', ['-o', report, '-f', '%e %M %U %S', command, ...args], { env: options.env ?? process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // GNU time does not pass a signal on: the command itself is killed (time then reports and ends).
    const timer = setTimeout(
      () => {
        const commands = childrenOf(child.pid);
        if (commands.length === 0) child.kill('SIGKILL');
        for (const pid of commands) process.kill(pid, 'SIGKILL');
      },
      options.timeoutMs ?? 20 * 60_000,
    );
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      try {
        const [wall, rssKb, user, system] = fs.readFileSync(report, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
        const cpuSeconds = Number((user + system).toFixed(2));
        resolve({ wallSeconds: wall, cpuSeconds, peakRssMb: Math.round(rssKb / 1024), exitCode: code ?? 1, stdout, stderr });
      } catch (error) {
        reject(new Error(`${command} ${args.join(' ')} ended without a timing report (exit ${code}): ${stderr.slice(-2000)}`, { cause: error }));
      } finally {
        fs.rmSync(report, { force: true });
      }
    });
  });
}

/** The ids of a process's children (Linux /proc), or none once it has ended. */
function childrenOf(pid: number | undefined): number[] {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The machine figures are taken on: cores, memory, CPU model, Node, and the load when measured. */
export function machine(): { cores: number; memoryGiB: number; cpu: string; node: string; loadAverage: number[] } {
  return {
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    loadAverage: os.loadavg().map((load) => Number(load.toFixed(2))),
  };
}

export function describeMachine(): string {
  const m = machine();
  return `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, load average ${m.loadAverage.join(' / ')}`;
}

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Waits until the 1-minute load average is below `limit` (other work on the machine), at most `maxSeconds`. */
export async function awaitQuiet(limit = 1.5, maxSeconds = 120): Promise<number> {
  const until = Date.now() + maxSeconds * 1000;
  while (os.loadavg()[0] > limit && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5000));
  return Number(os.loadavg()[0].toFixed(2));
}

/** Prints rows as an aligned text table (the columns of the first row). */
export function printTable(title: string, rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0]);
  const cells = rows.map((row) => columns.map((column) => (row[column] === undefined ? '' : String(row[column]))));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((line) => line[index].length)));
  const line = (values: string[]) => values.map((value, index) => value.padEnd(widths[index])).join('  ');
  console.log(`\n${title}\n${line(columns)}\n${line(widths.map((width) => '-'.repeat(width)))}`);
  for (const values of cells) console.log(line(values));
}

export function writeResult(name: string, result: unknown): string {
  const dir = path.join(repoRoot, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  fs.writeFileSync(file, `${JSON.stringify({ machine: machine(), at: new Date().toISOString(), result }, null, 2)}\n`);
  return file;
}
