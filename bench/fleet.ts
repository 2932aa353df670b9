// Scenario "fleet" (issue 14): one member vs three on the same PostgreSQL state. Three syncs of N users
// each (one SQLite warehouse) to three GamifyHost destinations, each its own emulator in this process
// (answering after 50 ms, concurrency 32: a bound of 640 requests/s per destination). Each layout gets
// a fresh state and fresh emulators, then runs twice: the first sync sends every record (delivery),
// the second finds nothing changed (steady). Layouts: SQLite state in one process (the baseline),
// PostgreSQL state in one process running the three syncs one after another, and PostgreSQL state in
// three processes started together, one sync each (members are `backflow sync` processes: the real
// CLI, as a fleet member runs it). Besides wall time, the CPU seconds of the backflow processes, of the
// PostgreSQL server (all its processes, read from /proc: it runs on this host), of this process (the
// emulators) and how busy the machine was, to show where the time goes.
//   node dist/bench/fleet.js [--records 20000]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { API_KEY, benchDir, buildSource, MAPPING, PG_URL, type Warehouse } from './fixtures.js';
import { cliPath, printTable, timeCommand, writeResult, type TimedRun } from './measure.js';

const SYNCS = ['users_a', 'users_b', 'users_c'];
const LATENCY_MS = 50;
const CONCURRENCY = 32;

interface Layout {
  state: 'sqlite' | 'postgres';
  members: 1 | 3;
}

/** Three syncs of the same users, each to its own destination (its own emulator). */
function fleetConfig(warehouse: Warehouse, state: string, baseUrls: string[]): string {
  const destinations = SYNCS.map(
    (sync, index) =>
      `  ${sync}_dest: { type: gamifyhost, apiKey: ${API_KEY}, baseUrl: "${baseUrls[index]}", concurrency: ${CONCURRENCY}, rateLimit: { requestsPerSecond: 100000 } }`,
  );
  const syncs = SYNCS.map(
    (sync) => `  - name: ${sync}
    source: warehouse
    query: ${JSON.stringify(warehouse.query)}
    primaryKey: id
    destination: ${sync}_dest
    mapping:${MAPPING}`,
  );
  return `version: 1
state: ${state}
sources:
  warehouse: ${warehouse.source}
destinations:
${destinations.join('\n')}
syncs:
${syncs.join('\n')}
`;
}

/** CPU seconds (user + system) of every PostgreSQL process, and of the backends that ended (the postmaster's waited-for children). */
export function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // ended meanwhile, or not ours to read
    }
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    if (name !== 'postgres') continue;
    // After the name: state (0), ppid (1), … utime (11), stime (12), cutime (13), cstime (14), in ticks of 1/100 s.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
    const parent = Number(fields[1]);
    const isPostmaster = !fs.existsSync(`/proc/${parent}/stat`) || !fs.readFileSync(`/proc/${parent}/stat`, 'utf8').includes('(postgres)');
    if (isPostmaster) ticks += Number(fields[13]) + Number(fields[14]);
  }
  return ticks / 100;
}

/** The machine's busy and total CPU time so far, from /proc/stat (every core). */
function machineTicks(): { busy: number; total: number } {
  const [, ...values] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const numbers = values.slice(0, 8).map(Number);
  const total = numbers.reduce((sum, value) => sum + value, 0);
  // idle (3) and iowait (4) are not busy.
  return { busy: total - numbers[3] - numbers[4], total };
}

/** Runs the syncs as `members` processes started together (one: all three in one process); every one is awaited. */
async function runMembers(config: string, members: number, timeoutMs: number) {
  const groups = members === 1 ? [SYNCS] : SYNCS.map((sync) => [sync]);
  const before = { postgres: postgresCpuSeconds(), machine: machineTicks(), bench: process.cpuUsage(), load: os.loadavg()[0] };
  const started = performance.now();
  const settled = await Promise.allSettled(
    groups.map((syncs) =>
      timeCommand(process.execPath, [cliPath, '--config', config, 'sync', '--json', ...syncs.flatMap((sync) => ['--sync', sync])], { timeoutMs }),
    ),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  const machine = machineTicks();
  const bench = process.cpuUsage(before.bench);
  const runs: TimedRun[] = [];
  for (const outcome of settled) {
    if (outcome.status === 'rejected') throw outcome.reason;
    if (outcome.value.exitCode !== 0)
      throw new Error(`backflow sync (${members} process${members === 1 ? '' : 'es'}) exited ${outcome.value.exitCode}: ${outcome.value.stderr.slice(-2000)}`);
    runs.push(outcome.value);
  }
  const summaries = runs.flatMap((run) => JSON.parse(run.stdout).runs as { sync: string; counts: Record<string, number> }[]);
  return {
    wallSeconds,
    summaries,
    backflowCpu: runs.reduce((sum, run) => sum + run.cpuSeconds, 0),
    peakRssMb: Math.max(...runs.map((run) => run.peakRssMb)),
    postgresCpu: postgresCpuSeconds() - before.postgres,
    benchCpu: (bench.user + bench.system) / 1e6,
    machineBusy: (machine.busy - before.machine.busy) / (machine.total - before.machine.total),
    load: before.load,
  };
}

/** Per destination: requests received, and how many records arrived other than exactly once. */
function deliveries(emulators: GamifyHostEmulator[], records: number) {
  let requests = 0;
  let notOnce = 0;
  for (const emulator of emulators) {
    const times = new Map<string, number>();
    for (const body of emulator.sentBodies) times.set(String(body.externalId), (times.get(String(body.externalId)) ?? 0) + 1);
    requests += emulator.received.length;
    for (let id = 1; id <= records; id++) if (times.get(String(id)) !== 1) notOnce++;
  }
  return { requests, notOnce };
}

async function benchLayout(dir: string, warehouse: Warehouse, records: number, layout: Layout) {
  const emulators = SYNCS.map(() => {
    const emulator = new GamifyHostEmulator([API_KEY]);
    emulator.latencyMs = LATENCY_MS;
    return emulator;
  });
  const schema = `bench_fleet_${layout.members}_${process.pid}`;
  const name = layout.state === 'sqlite' ? 'SQLite state' : `PostgreSQL state, ${layout.members} member${layout.members === 1 ? '' : 's'}`;
  try {
    const baseUrls = await Promise.all(emulators.map((emulator) => emulator.start()));
    const state = layout.state === 'sqlite' ? `{ path: ./state-${layout.members}.db }` : `{ url: "${PG_URL}", schema: ${schema} }`;
    const config = path.join(dir, `fleet-${layout.state}-${layout.members}.yaml`);
    fs.writeFileSync(config, fleetConfig(warehouse, state, baseUrls));
    // Bounded: 10 records/s at the least (PostgreSQL state on a busy machine reached about 90/s), two minutes at least.
    const timeoutMs = Math.max(120_000, ((SYNCS.length * records) / 10) * 1000);
    const rows = [];
    for (const run of ['delivery', 'steady'] as const) {
      const result = await runMembers(config, layout.members, timeoutMs);
      const { requests, notOnce } = deliveries(emulators, records);
      for (const summary of result.summaries) {
        const expected = run === 'delivery' ? summary.counts.sent : summary.counts.unchanged;
        if (expected !== records) throw new Error(`${name}, ${run}: sync ${summary.sync} counted ${JSON.stringify(summary.counts)}, expected ${records}`);
      }
      if (notOnce !== 0) throw new Error(`${name}, ${run}: ${notOnce} records did not arrive exactly once (${requests} requests)`);
      const total = SYNCS.length * records;
      rows.push({
        scenario: 'fleet',
        state: name,
        run: run === 'delivery' ? 'delivery (first sync)' : 'steady (nothing changed)',
        processes: layout.members,
        records: total,
        requests: run === 'delivery' ? requests : requests - total,
        exactlyOnce: notOnce === 0 ? 'yes' : 'no',
        wallSeconds: Number(result.wallSeconds.toFixed(2)),
        recordsPerSecond: Math.round(total / result.wallSeconds),
        backflowCpuSeconds: Number(result.backflowCpu.toFixed(2)),
        postgresCpuSeconds: Number(result.postgresCpu.toFixed(2)),
        emulatorCpuSeconds: Number(result.benchCpu.toFixed(2)),
        machineBusy: `${(100 * result.machineBusy).toFixed(0)}%`,
        peakRssMb: result.peakRssMb,
        load: Number(result.load.toFixed(2)),
      });
    }
    return rows;
  } finally {
    await Promise.all(emulators.map((emulator) => emulator.stop()));
    if (layout.state === 'postgres') {
      const admin = new pg.Client(PG_URL);
      await admin.connect();
      try {
        await admin.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await admin.end();
      }
    }
  }
}

export async function benchFleet(records: number) {
  const dir = benchDir('fleet');
  const warehouse = await buildSource('sqlite', dir, records);
  try {
    const rows = [];
    for (const layout of [
      { state: 'sqlite', members: 1 },
      { state: 'postgres', members: 1 },
      { state: 'postgres', members: 3 },
    ] as Layout[]) {
      rows.push(...(await benchLayout(dir, warehouse, records, layout)));
    }
    return rows;
  } finally {
    await warehouse.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { records: { type: 'string', default: '20000' } } });
  const results = await benchFleet(Math.min(Number(values.records), 100_000));
  printTable('fleet: three syncs, one process vs three, on one PostgreSQL state (SQLite state as baseline)', results);
  console.log(`\nWrote ${writeResult('fleet', results)}`);
}
