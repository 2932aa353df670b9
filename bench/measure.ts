// Measuring helpers for bench/: wall time and peak RSS of a whole process (GNU time), and results
// written as JSON under bench/results/.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');

export interface TimedRun {
  wallSeconds: number;
  peakRssMb: number;
  exitCode: number;
  stdout: string;
}

/** Runs a command under GNU time: its wall-clock seconds and maximum resident set size. */
export function timeCommand(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): TimedRun {
  const report = path.join(os.tmpdir(), `backflow-time-${process.pid}-${Date.now()}`);
  const result = spawnSync('/usr/bin/time', ['-o', report, '-f', '%e %M', command, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 30 });
  const [wall, rssKb] = fs.readFileSync(report, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  fs.rmSync(report, { force: true });
  return { wallSeconds: wall, peakRssMb: Math.round(rssKb / 1024), exitCode: result.status ?? 1, stdout: result.stdout };
}

export function machine(): string {
  return `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

export function writeResult(name: string, result: unknown): void {
  const dir = path.join(repoRoot, 'bench', 'results');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify({ machine: machine(), at: new Date().toISOString(), result }, null, 2)}\n`);
}
