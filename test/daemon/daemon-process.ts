// Drives `backflow daemon` as a child process: its JSON log lines, awaited by content, its /metrics,
// and its exit. A wait for a line ends when the line comes, or fails as soon as the daemon exits
// without it; the child is killed and awaited when the test ends (spawnCli).
import type { ChildProcess } from 'node:child_process';
import { spawnCli, waitUntil } from '../helpers/index.js';
import { ChangeSignal } from '../helpers/wait.js';

export type LogLine = Record<string, unknown> & { msg: string; level: string };

export class DaemonProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  /** Everything written to stderr and stdout, raw (for the secret scan). */
  stderr = '';
  stdout = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Each new log line, and the exit. */
  private readonly changes = new ChangeSignal();
  private hasExited = false;
  private partial = '';

  constructor(configFile: string, env: NodeJS.ProcessEnv) {
    this.child = spawnCli(['daemon', '--config', configFile], { env });
    this.child.stdout!.on('data', (chunk) => (this.stdout += chunk));
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk;
      this.partial += chunk;
      const complete = this.partial.split('\n');
      this.partial = complete.pop() ?? '';
      for (const text of complete) if (text.trim()) this.accept(text);
    });
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code, signal) => {
        this.hasExited = true;
        this.changes.notify();
        resolve({ code, signal });
      }),
    );
  }

  private accept(text: string): void {
    // A line that is not JSON fails the test that reads it: every log line must be JSON.
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { msg: `NOT JSON: ${text}`, level: 'invalid' };
    }
    this.lines.push(line);
    this.changes.notify();
  }

  /** The first log line (already written or to come) that `predicate` accepts; fails if the daemon exits first. */
  waitForLog(predicate: (line: LogLine) => boolean, what = 'a log line'): Promise<LogLine> {
    return this.waitForPick(() => this.lines.find(predicate), what);
  }

  /** The Nth (1-based) log line that `predicate` accepts, counting lines already written. */
  waitForNth(predicate: (line: LogLine) => boolean, n: number, what = 'a log line'): Promise<LogLine> {
    return this.waitForPick(() => this.lines.filter(predicate)[n - 1], `${what} #${n}`);
  }

  private waitForPick(pick: () => LogLine | undefined, what: string): Promise<LogLine> {
    return waitUntil(
      what,
      () => {
        const line = pick();
        if (line) return line;
        if (this.hasExited) {
          throw new Error(`the daemon exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; its log:\n${this.stderr}`);
        }
        return undefined;
      },
      this.changes,
    );
  }

  async url(): Promise<string> {
    const started = await this.waitForLog((line) => line.msg === 'daemon started', 'the daemon to start');
    return started.url as string;
  }

  async metricsText(): Promise<string> {
    const response = await fetch(`${await this.url()}/metrics`);
    return response.text();
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

/** Finished-run lines of a sync. */
export const runFinished = (sync: string) => (line: LogLine) => line.msg === 'run finished' && line.sync === sync;

/** Parses Prometheus text into `name{labels}` -> value (labels in the order written). */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{.*\})?) (\S+)$/.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${line}`);
    values.set(match[1], Number(match[2]));
  }
  return values;
}

/** Reads one sample, e.g. metric(values, 'backflow_records_total', { sync: 'users', outcome: 'sent' }). */
export function metric(values: Map<string, number>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const [key, value] of values) {
    const match = /^([^{]+)(?:\{(.*)\})?$/.exec(key)!;
    if (match[1] !== name) continue;
    const have = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1], pair[2]]));
    if (Object.entries(labels).every(([label, wanted]) => have[label] === wanted)) return value;
  }
  return undefined;
}

/** A config syncing the `users` table of ./warehouse.db to GamifyHost, for daemon tests. */
export function daemonConfig(options: {
  schedule: string;
  concurrency?: number;
  requestsPerSecond?: number;
  graceSeconds?: number;
  extraSyncs?: string;
}): string {
  return `
version: 1
state: { path: ./state.db }
daemon: { listen: "127.0.0.1:0", shutdownGraceSeconds: ${options.graceSeconds ?? 10} }
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  gamify:
    type: gamifyhost
    apiKey: \${GAMIFY_KEY}
    baseUrl: \${GAMIFY_URL}
    rateLimit: { requestsPerSecond: ${options.requestsPerSecond ?? 1000} }
    concurrency: ${options.concurrency ?? 2}
    retry: { attempts: 3, baseDelayMs: 10 }
syncs:
  - name: users
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: gamify
    schedule: "${options.schedule}"
    mapping:
      externalId: id
      displayName: name
      email: email
      country: { column: country, transform: upper }
${options.extraSyncs ?? ''}`;
}

export const SECRET_KEY = 'pk_test_secret_key_123';
