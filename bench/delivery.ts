// Scenario "delivery": `backflow sync` sends N changed records to the GamifyHost emulator on loopback,
// which answers each request after `latencyMs`, at concurrency 32: once with no effective rate limit
// (bound: concurrency / latency = 640 requests/s) and once limited to 100 requests/s (bound: 100/s).
// Reports throughput as a share of the bound, and whether any one-second window held more requests
// than the limit (counted at the emulator, from arrival times).
//   node dist/bench/delivery.js [--records 20000] [--latency 50] [--concurrency 32] [--rate 100000|100]
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { API_KEY, benchDir, buildSource, configText, seedState, writeConfig } from './fixtures.js';
import { cliPath, printTable, timeCommand, writeResult } from './measure.js';

export interface DeliveryOptions {
  records: number;
  latencyMs: number;
  concurrency: number;
  requestsPerSecond: number;
}

/** How many requests arrived while the preceding `windowMs` already held `limit` (each one a violation). */
export function windowViolations(arrivals: number[], windowMs: number, limit: number): number {
  const times = [...arrivals].sort((a, b) => a - b);
  let violations = 0;
  let start = 0;
  for (let end = 0; end < times.length; end++) {
    while (times[end] - times[start] >= windowMs) start++;
    if (end - start + 1 > limit) violations++;
  }
  return violations;
}

export async function benchDelivery(options: DeliveryOptions) {
  const dir = benchDir('delivery');
  const emulator = new GamifyHostEmulator([API_KEY]);
  emulator.latencyMs = options.latencyMs;
  const baseUrl = await emulator.start();
  const warehouse = await buildSource('sqlite', dir, options.records);
  try {
    const config = writeConfig(dir, configText(warehouse, { baseUrl, concurrency: options.concurrency, requestsPerSecond: options.requestsPerSecond }));
    // Every record was sent once before, and every one has changed since.
    await seedState(config);
    await warehouse.change(1);
    const run = await timeCommand(process.execPath, [cliPath, '--config', config, 'sync', '--json']);
    if (run.exitCode !== 0) throw new Error(`backflow sync exited ${run.exitCode}: ${run.stderr.slice(-2000)}`);
    const summary = JSON.parse(run.stdout).runs[0];
    if (summary.counts.changed !== options.records || summary.counts.sent !== options.records || emulator.accepted !== options.records) {
      throw new Error(
        `expected ${options.records} changed records sent and accepted, got ${JSON.stringify(summary.counts)}, emulator accepted ${emulator.accepted}`,
      );
    }
    const arrivals = emulator.received.map((request) => request.at);
    // From the first request's arrival to the last one's answer.
    const sendSeconds = (Math.max(...arrivals) + options.latencyMs - Math.min(...arrivals)) / 1000;
    const throughput = emulator.received.length / sendSeconds;
    const concurrencyBound = (options.concurrency * 1000) / options.latencyMs;
    const bound = Math.min(concurrencyBound, options.requestsPerSecond);
    const limited = options.requestsPerSecond < concurrencyBound;
    return {
      scenario: 'delivery',
      records: options.records,
      latencyMs: options.latencyMs,
      concurrency: options.concurrency,
      rateLimit: limited ? options.requestsPerSecond : 'none',
      requests: emulator.received.length,
      boundPerSecond: bound,
      sendSeconds: Number(sendSeconds.toFixed(2)),
      requestsPerSecond: Number(throughput.toFixed(1)),
      ofBound: `${((100 * throughput) / bound).toFixed(1)}%`,
      maxInAnySecond: emulator.maxInWindow(1000),
      violations: limited ? windowViolations(arrivals, 1000, options.requestsPerSecond) : 'n/a',
      maxInFlight: emulator.maxInFlight,
      syncWallSeconds: run.wallSeconds,
      peakRssMb: run.peakRssMb,
    };
  } finally {
    await emulator.stop();
    await warehouse.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '20000' },
      latency: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '32' },
      rate: { type: 'string', default: '100000' },
    },
  });
  const result = await benchDelivery({
    records: Math.min(Number(values.records), 100_000),
    latencyMs: Number(values.latency),
    concurrency: Number(values.concurrency),
    requestsPerSecond: Number(values.rate),
  });
  printTable('backflow sync → GamifyHost emulator', [result]);
  writeResult(`delivery-${values.rate}`, result);
}
