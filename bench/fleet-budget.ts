// Scenario "fleet-budget": what the fleet's shared rate budget and concurrency slots (src/fleet) cost
// per request, against the in-process RateLimiter and Gate in the same run. Callers take a slot and a
// turn and leave at once (no HTTP: only the pacing is measured), for a few seconds at 100 and 1,000
// requests/s, with one member and with two (each its own PostgreSQL connection, in this process).
// Figures: turns/s reached, the event loop's busy time and Node's CPU per request, the PostgreSQL backends' CPU per request (read from
// /proc, the server being on this host), statements per request and their latency, the most turns
// in any sliding second.
//   node dist/bench/fleet-budget.js [--seconds 4] [--callers 8]
import fs from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { Gate, type Slots } from '../src/delivery/gate.js';
import { RateLimiter, type Pacer } from '../src/delivery/rate-limiter.js';
import { RATE_BUDGET_DDL } from '../src/fleet/ddl.js';
import { FleetRateBudget } from '../src/fleet/rate-budget.js';
import { localNow, ServerClock } from '../src/fleet/server-clock.js';
import { Session } from '../src/fleet/session.js';
import { FleetSlots } from '../src/fleet/slots.js';
import { PG_URL } from './fixtures.js';
import { percentile, printTable, writeResult } from './measure.js';

interface Member {
  limiter: Pacer;
  gate: Slots;
  statements: () => number;
  backendPid?: number;
}

/** The most times in any sliding window of `windowMs`. */
function mostInWindow(times: number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let start = 0, end = 0; end < sorted.length; end++) {
    while (sorted[end] - sorted[start] >= windowMs) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

/** CPU seconds a process has used (user + system), from /proc: the PostgreSQL backend serving a member. */
function processCpuSeconds(pid: number): number {
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime and stime are fields 14 and 15 of stat (12 and 13 after the name), in clock ticks of 1/100 s.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `callers` callers per member, each taking a slot and a turn and leaving at once, for `seconds`. */
async function drive(members: Member[], seconds: number, callers: number) {
  const releases: number[] = [];
  for (const member of members) member.limiter.onRelease = (at) => releases.push(at);
  const cpuBefore = process.cpuUsage();
  const loopBefore = performance.eventLoopUtilization();
  const backendsBefore = members.map((member) => (member.backendPid ? processCpuSeconds(member.backendPid) : 0));
  const statementsBefore = members.map((member) => member.statements());
  const started = localNow();
  const until = started + seconds * 1000;
  let requests = 0;
  const caller = async ({ limiter, gate }: Member) => {
    while (localNow() < until) {
      await gate.enter();
      try {
        (await limiter.take()).departed();
        requests++;
      } finally {
        gate.leave();
      }
    }
  };
  await Promise.all(members.flatMap((member) => Array.from({ length: callers }, () => caller(member))));
  const elapsed = (localNow() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const loop = performance.eventLoopUtilization(loopBefore);
  const backendCpu = members.reduce((sum, member, index) => sum + (member.backendPid ? processCpuSeconds(member.backendPid) - backendsBefore[index] : 0), 0);
  const statements = members.reduce((sum, member, index) => sum + member.statements() - statementsBefore[index], 0);
  return {
    requests,
    elapsed,
    nodeCpuUs: ((cpu.user + cpu.system) / requests).toFixed(1),
    // The event loop's busy time (hrtime, not the OS's tick-sampled CPU): what a take() costs the thread that sends.
    loopBusyUs: ((loop.active * 1000) / requests).toFixed(1),
    backendCpu,
    statements,
    mostInASecond: mostInWindow(releases, 1000),
  };
}

/** A member's session, its statements timed, and the PostgreSQL backend serving it. */
async function timedSession(schema: string, latencies: number[]) {
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
  const session = new Session(client);
  session.onStatement = (ms) => latencies.push(ms);
  return { client, session, pid: rows[0].pid };
}

export async function benchFleetBudget(options: { seconds: number; callers: number; rates?: number[] }) {
  const schema = `bench_fleet_${process.pid}`;
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  await admin.query(`drop schema if exists ${schema} cascade`);
  await admin.query(`create schema ${schema}`);
  await admin.query(`set search_path = ${schema}`);
  await admin.query(RATE_BUDGET_DDL);
  const results = [];
  try {
    for (const rate of options.rates ?? [100, 1000]) {
      const concurrency = 4;
      // The baseline: this process's limiter and gate, as without a fleet.
      const local = await drive([{ limiter: new RateLimiter(rate), gate: new Gate(concurrency), statements: () => 0 }], options.seconds, options.callers);
      results.push(row('in-process RateLimiter + Gate', 1, rate, local, []));
      for (const count of [1, 2]) {
        const latencies: number[] = [];
        const sessions = await Promise.all(Array.from({ length: count }, () => timedSession(schema, latencies)));
        const clock = new ServerClock();
        const destination = `bench-${rate}-${count}`;
        const members = sessions.map(({ session, pid }) => {
          const limiter = new FleetRateBudget(session, clock, destination, rate);
          const gate = new FleetSlots(session, destination, concurrency);
          return { limiter, gate, statements: () => session.statements, backendPid: pid };
        });
        // One turn each first: the row exists and the clocks are sampled before measuring.
        for (const member of members) (await member.limiter.take()).departed();
        const fleet = await drive(members, options.seconds, options.callers);
        await Promise.all(members.map(({ gate }) => gate.close()));
        await Promise.all(sessions.map(({ client }) => client.end()));
        results.push(row(`fleet budget, ${count} member${count === 1 ? '' : 's'}`, count, rate, fleet, latencies));
      }
    }
  } finally {
    await admin.query(`drop schema if exists ${schema} cascade`);
    await admin.end();
  }
  return results;
}

function row(pacer: string, members: number, rate: number, run: Awaited<ReturnType<typeof drive>>, latencies: number[]) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    pacer,
    members,
    rateLimit: rate,
    turnsPerSecond: Math.round(run.requests / run.elapsed),
    ofLimit: `${((run.requests / run.elapsed / rate) * 100).toFixed(1)}%`,
    mostInASecond: run.mostInASecond,
    loopBusyUsPerRequest: run.loopBusyUs,
    nodeCpuUsPerRequest: run.nodeCpuUs,
    pgCpuUsPerRequest: ((run.backendCpu * 1e6) / run.requests).toFixed(1),
    statementsPerRequest: (run.statements / run.requests).toFixed(3),
    statementMsP50: sorted.length ? percentile(sorted, 50).toFixed(2) : '',
    statementMsP99: sorted.length ? percentile(sorted, 99).toFixed(2) : '',
    loadAverage: os.loadavg()[0].toFixed(2),
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '4' }, callers: { type: 'string', default: '8' } } });
  console.log(
    `load average at start: ${os
      .loadavg()
      .map((load) => load.toFixed(2))
      .join(' / ')}`,
  );
  const results = await benchFleetBudget({ seconds: Number(values.seconds), callers: Number(values.callers) });
  printTable('fleet rate budget: cost per request vs the in-process limiter (same run)', results);
  console.log(`\nWrote ${writeResult('fleet-budget', results)}`);
}
