// Scenario "batching" (issue 15): `backflow sync` of a first sync to each batching emulator at a
// vendor rate, in batches and one record per request (`batch: false`), side by side in one run.
// Vitally: 100,000 users at its default 10 requests/s, batches of 100. Userpilot: 20,000 users at
// 2 requests/s, bulk jobs of 10,000, job polls counted in the same limit. One record per request at
// those rates would take hours (100,000 / 10/s), so that mode sends a bounded sample (about
// `sampleSeconds` at the limit) and its time for the whole set is projected from the sample's rate.
// Counted at the emulator from arrival times: the most requests in any one second, requests over the
// limit, and the R+1 requests closest together (their span, and when they came), with the longest the
// emulator's own event loop was held (its stamps are that late at worst).
//   node dist/bench/batching.js [--vitally 100000] [--userpilot 20000] [--sample-seconds 30]
import fs from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { HttpEmulator } from '../sandbox/http-emulator.js';
import { UserpilotEmulator } from '../sandbox/userpilot.js';
import { VitallyEmulator } from '../sandbox/vitally.js';
import { windowViolations } from './delivery.js';
import { benchDir, buildSource, writeConfig, type Warehouse } from './fixtures.js';
import { cliPath, machine, printTable, timeCommand, writeResult } from './measure.js';

const VITALLY_TOKEN = 'sk_bench_vitally';
const USERPILOT_KEY = 'up_bench_key';

interface Vendor {
  name: 'vitally' | 'userpilot';
  requestsPerSecond: number;
  emulator(): HttpEmulator & { users: Map<string, unknown> };
  /** The destination's YAML (flow style) with `batch` as given. */
  destination(url: string, batch: string): string;
  mapping: string;
  batch: string;
}

const VENDORS: Vendor[] = [
  {
    name: 'vitally',
    requestsPerSecond: 10,
    emulator: () => new VitallyEmulator(VITALLY_TOKEN),
    destination: (url, batch) =>
      `{ type: vitally, subdomain: acme, token: ${VITALLY_TOKEN}, baseUrl: "${url}", rateLimit: { requestsPerSecond: 10 }, batch: ${batch} }`,
    mapping: `
      userId: { column: id, transform: string }
      accountId: country
      traits.email: { column: email, transform: [trim, lower] }
      traits.plan: plan`,
    batch: '{ size: 100 }',
  },
  {
    name: 'userpilot',
    requestsPerSecond: 2,
    emulator: () => new UserpilotEmulator([USERPILOT_KEY]),
    destination: (url, batch) =>
      `{ type: userpilot, environment: bench, apiKey: ${USERPILOT_KEY}, baseUrl: "${url}", rateLimit: { requestsPerSecond: 2 }, batch: ${batch} }`,
    mapping: `
      user_id: { column: id, transform: string }
      metadata.email: { column: email, transform: [trim, lower] }
      metadata.plan: plan`,
    batch: '{ size: 10000 }',
  },
];

function configFor(vendor: Vendor, warehouse: Warehouse, url: string, batch: string, limit?: number): string {
  const query = limit ? `${warehouse.query} order by id limit ${limit}` : warehouse.query;
  return `version: 1
state: { path: ./state-${batch === 'false' ? 'single' : 'batch'}.db }
sources:
  warehouse: ${warehouse.source}
destinations:
  dest: ${vendor.destination(url, batch)}
syncs:
  - name: users
    source: warehouse
    query: ${JSON.stringify(query)}
    primaryKey: id
    destination: dest
    mapping:${vendor.mapping}
`;
}

async function deliver(vendor: Vendor, warehouse: Warehouse, dir: string, mode: 'batch' | 'one by one', records: number, total: number) {
  const emulator = vendor.emulator();
  const url = await emulator.start();
  // The emulator stamps a request when its event loop gets to it: a loop held up (this process
  // descheduled on a loaded machine) stamps late, and two requests that came apart can look together.
  const emulatorLoop = monitorEventLoopDelay({ resolution: 5 });
  emulatorLoop.enable();
  // When the loop was held (over 20 ms), to see whether the requests closest together at the
  // emulator were stamped right after one.
  const stalls: { from: number; to: number }[] = [];
  let lastTick = Date.now();
  const ticker = setInterval(() => {
    const now = Date.now();
    if (now - lastTick > 20) stalls.push({ from: lastTick, to: now });
    lastTick = now;
  }, 2);
  try {
    const config = writeConfig(dir, configFor(vendor, warehouse, url, mode === 'batch' ? vendor.batch : 'false', records === total ? undefined : records));
    const run = await timeCommand(process.execPath, [cliPath, '--config', config, 'sync', '--json'], { timeoutMs: 15 * 60_000 });
    if (run.exitCode !== 0) throw new Error(`${vendor.name} ${mode}: backflow sync exited ${run.exitCode}: ${run.stderr.slice(-2000)}`);
    const counts = JSON.parse(run.stdout).runs[0].counts;
    if (counts.sent !== records || emulator.users.size !== records) {
      throw new Error(`${vendor.name} ${mode}: expected ${records} sent and applied, got ${JSON.stringify(counts)}, ${emulator.users.size} at the emulator`);
    }
    const arrivals = emulator.received.map((request) => request.at);
    // From the first request's arrival to the last one's: the sending, without the process start.
    const sendSeconds = (Math.max(...arrivals) - Math.min(...arrivals)) / 1000;
    const recordsPerSecond = records / Math.max(sendSeconds, 1 / vendor.requestsPerSecond);
    return {
      vendor: vendor.name,
      mode,
      rateLimit: `${vendor.requestsPerSecond}/s`,
      records,
      requests: emulator.received.length,
      syncWallSeconds: run.wallSeconds,
      sendSeconds: Number(sendSeconds.toFixed(2)),
      recordsPerSecond: Number(recordsPerSecond.toFixed(1)),
      projectedForAll: records === total ? '(measured)' : `${(total / recordsPerSecond / 3600).toFixed(1)} h for ${total.toLocaleString('en-US')}`,
      maxInAnySecond: emulator.maxInWindow(1000),
      violations: windowViolations(arrivals, 1000, vendor.requestsPerSecond),
      ...tightestWindow(arrivals, vendor.requestsPerSecond, stalls),
      emulatorLoopDelayMaxMs: Math.round(emulatorLoop.max / 1e6),
      peakRssMb: run.peakRssMb,
    };
  } finally {
    emulatorLoop.disable();
    clearInterval(ticker);
    await emulator.stop();
  }
}

/**
 * The R+1 consecutive arrivals closest together: their span (over 1,000 ms means no second held more
 * than R), when they came, in ms after the first request of the run, and the emulator's loop stalls
 * that ended among them (length ms @ end), after which a request is stamped late.
 */
function tightestWindow(arrivals: number[], limit: number, stalls: { from: number; to: number }[]) {
  const times = [...arrivals].sort((a, b) => a - b);
  let best = -1;
  for (let index = 0; index + limit < times.length; index++) {
    if (best < 0 || times[index + limit] - times[index] < times[best + limit] - times[best]) best = index;
  }
  if (best < 0) return { tightestSpanMs: Infinity, tightestAt: '-', stallsThen: '-' };
  const window = times.slice(best, best + limit + 1);
  const near = stalls.filter((stall) => stall.to >= window[0] - 5 && stall.to <= window[limit]);
  return {
    tightestSpanMs: window[limit] - window[0],
    tightestAt: window.map((at) => at - times[0]).join(' '),
    stallsThen: near.map((stall) => `${stall.to - stall.from}@${stall.to - times[0]}`).join(' ') || 'none',
  };
}

export async function benchBatching(sizes: { vitally: number; userpilot: number; sampleSeconds: number }) {
  const results = [];
  for (const vendor of VENDORS) {
    const total = sizes[vendor.name];
    const dir = benchDir(`batching-${vendor.name}`);
    const warehouse = await buildSource('sqlite', dir, total);
    try {
      const load = machine()
        .loadAverage.map((value) => value.toFixed(1))
        .join(' / ');
      results.push({ ...(await deliver(vendor, warehouse, dir, 'batch', total, total)), load });
      results.push({ ...(await deliver(vendor, warehouse, dir, 'one by one', Math.min(vendor.requestsPerSecond * sizes.sampleSeconds, total), total)), load });
    } finally {
      await warehouse.drop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}

if (process.argv[1]?.endsWith('batching.js')) {
  const { values } = parseArgs({
    options: {
      vitally: { type: 'string', default: '100000' },
      userpilot: { type: 'string', default: '20000' },
      'sample-seconds': { type: 'string', default: '30' },
    },
  });
  const results = await benchBatching({
    vitally: Number(values.vitally),
    userpilot: Number(values.userpilot),
    sampleSeconds: Number(values['sample-seconds']),
  });
  printTable('Batch delivery: a first sync, batches against one record per request', results);
  writeResult('batching', results);
}
