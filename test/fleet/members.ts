// Fleet members for the rate budget tests: real child processes, each with its own FleetBudgets
// (its own PostgreSQL session) on one test schema, loading the built dist/ as a member would.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { onTestFinished } from 'vitest';
import { RATE_BUDGET_DDL } from '../../src/fleet/ddl.js';
import { ChangeSignal, waitUntil } from '../helpers/wait.js';

export const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh schema holding the budget's tables and a minimal `locks` table, dropped when the test ends. */
export async function freshSchema(): Promise<string> {
  const schema = `fleet_budget_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  await admin.query(`create schema ${schema}`);
  await admin.query(`set search_path = ${schema}`);
  await admin.query(RATE_BUDGET_DDL);
  await admin.query(RATE_BUDGET_DDL); // idempotent
  await admin.query('create table locks (sync text primary key, token text not null)');
  await admin.end();
  onTestFinished(async () => {
    const dropper = new pg.Client({ connectionString: POSTGRES_URL });
    await dropper.connect();
    await dropper.query(`drop schema ${schema} cascade`);
    await dropper.end();
  });
  return schema;
}

/** The connection a member of `schema` uses (its search_path set there). */
export const memberConnection = (schema: string): pg.ClientConfig => ({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });

export interface MemberOptions {
  schema: string;
  /** Sent in the x-member header, so the emulator tells the members apart. */
  name: string;
  /** `send`: send `count` requests to `url` with `workers` at once; `hold`: take every slot and keep them; `wait`: wait for every slot. */
  mode: 'send' | 'hold' | 'wait';
  requestsPerSecond: number;
  concurrency: number;
  url?: string;
  count?: number;
  workers?: number;
  /** How long the member may be paused (SIGSTOP) before the server ends its session and its slots go to the others. */
  pausedMemberTimeoutMs?: number;
}

// The member: opens its budgets, says "ready", starts at the line "go" on stdin and ends when stdin
// ends. A 429 pauses the whole fleet for its Retry-After (as Destination does), then "paused".
const SCRIPT = `import http from 'node:http';
import { createInterface } from 'node:readline';
import { FleetBudgets } from ${JSON.stringify(new URL('../../dist/src/fleet/budgets.js', import.meta.url).href)};
const options = JSON.parse(process.argv[1]);
const budgets = await FleetBudgets.open({ connectionString: options.postgres, options: '-c search_path=' + options.schema }, { pausedMemberTimeoutMs: options.pausedMemberTimeoutMs });
const { limiter, gate } = budgets.budgetFor('vendor', options.requestsPerSecond, options.concurrency);
const stdin = createInterface({ input: process.stdin });
const ended = new Promise((resolve) => stdin.once('close', resolve));
console.log('ready');
await new Promise((resolve) => stdin.once('line', resolve));
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
function request() {
  return new Promise((resolve, reject) => {
    limiter.take().then((turn) => {
      const req = http.request(options.url, { method: 'POST', agent, headers: { 'x-member': options.name, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res));
      });
      req.once('finish', () => turn.departed());
      req.once('close', () => turn.departed());
      req.on('error', reject);
      req.end('{}');
    }, reject);
  });
}
if (options.mode === 'send') {
  let next = 0;
  const statuses = {};
  async function worker() {
    while (next < options.count) {
      next++;
      await gate.enter();
      try {
        const res = await request();
        statuses[res.statusCode] = (statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode === 429) {
          limiter.pauseUntil(Date.now() + Number(res.headers['retry-after']) * 1000);
          await limiter.settled();
          console.log('paused');
        }
      } finally {
        gate.leave();
      }
    }
  }
  await Promise.all(Array.from({ length: options.workers ?? 1 }, worker));
  console.log('done ' + JSON.stringify({ statuses, statements: budgets.statements }));
} else if (options.mode === 'hold') {
  for (let index = 0; index < options.concurrency; index++) await gate.enter();
  console.log('held');
  // Told "again": gives a slot back and asks for one more (refused once its session is gone).
  stdin.once('line', () => {
    gate.leave();
    gate.enter().then(() => console.log('entered again'), (error) => console.log('refused: ' + error.message));
  });
} else {
  let busy = false;
  gate.onBusy = () => { if (!busy) console.log('busy'); busy = true; };
  for (let index = 0; index < options.concurrency; index++) await gate.enter();
  console.log('entered all');
}
await ended;
await budgets.close();
agent.destroy();`;

export interface Member {
  readonly lines: string[];
  /** Resolves with the first line `match` accepts, once it is printed (fails if the member exits first). */
  line(match: (line: string) => boolean, what: string): Promise<string>;
  /** Tells the member to start. */
  go(): void;
  /** Writes a line to the member's stdin (a holder, told "again", asks for a slot once more). */
  tell(line: string): void;
  /** Ends stdin: the member closes its budgets and exits. */
  finish(): Promise<void>;
  kill(): Promise<void>;
  /** Sends a signal (SIGSTOP, SIGCONT) without waiting for anything. */
  signal(signal: NodeJS.Signals): void;
}

/** Spawns a member and resolves once it is ready; killed and awaited when the test ends. */
export async function startMember(options: MemberOptions): Promise<Member> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SCRIPT, JSON.stringify({ ...options, postgres: POSTGRES_URL })], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  let gone = false;
  void exited.then(() => {
    gone = true;
    changes.notify();
  });
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const lines: string[] = [];
  const changes = new ChangeSignal();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    changes.notify();
  });
  const line = (match: (line: string) => boolean, what: string) =>
    waitUntil(
      `member ${options.name}: ${what}`,
      () => {
        const found = lines.find(match);
        if (found === undefined && gone) throw new Error(`member ${options.name} exited before ${what}: ${stderr.slice(-2000)}`);
        return found;
      },
      changes,
    );
  await line((each) => each === 'ready', 'ready');
  return {
    lines,
    line,
    go: () => child.stdin.write('go\n'),
    tell: (line) => child.stdin.write(`${line}\n`),
    finish: async () => {
      child.stdin.end();
      await exited;
      if (child.exitCode !== 0) throw new Error(`member ${options.name} exited with ${child.exitCode}: ${stderr.slice(-2000)}`);
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    signal: (signal) => void child.kill(signal),
  };
}
