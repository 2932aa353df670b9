// Benchmark: Segment ingest throughput and acknowledgement latency on loopback.
// `backflow ingest` runs as its own process (as in production); this process plays the clients:
// CONCURRENCY keep-alive connections each POSTing /v1/batch of BATCH messages, back to back, for
// SECONDS (bounded also by MAX_EVENTS). Every 200 means the batch was committed and fsynced.
//
//   node dist/bench/ingest.js [--batch 100] [--concurrency 8] [--seconds 10]
//   (or from sources: node --import tsx bench/ingest.ts …)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { percentile, writeResult } from './measure.js';

const MAX_EVENTS = 5_000_000;
const WARMUP_MS = 1_000;
const USERS = 10_000;
const WRITE_KEY = 'wk_bench_0123456789';

const here = path.dirname(fileURLToPath(import.meta.url));
// From sources (tsx) run the CLI's sources; from dist, the compiled CLI.
const cli = import.meta.url.endsWith('.ts')
  ? { args: ['--import', 'tsx', path.resolve(here, '../src/cli/main.ts')] }
  : { args: [path.resolve(here, '../src/cli/main.js')] };

/** One realistic message: mostly track, some identify, a few page and group calls. */
function message(sequence: number): Record<string, unknown> {
  const userId = `user-${sequence % USERS}`;
  const common = {
    userId,
    messageId: `bench-${process.pid}-${sequence}`,
    timestamp: new Date().toISOString(),
    context: { library: { name: 'bench', version: '1' }, ip: '127.0.0.1' },
  };
  const kind = sequence % 20;
  if (kind === 0)
    return {
      ...common,
      type: 'identify',
      traits: { email: `${userId}@example.com`, name: `User ${sequence % USERS}`, plan: ['free', 'pro', 'enterprise'][sequence % 3], logins: sequence },
    };
  if (kind === 1) return { ...common, type: 'group', groupId: `org-${sequence % 500}`, traits: { name: `Org ${sequence % 500}`, seats: sequence % 50 } };
  if (kind === 2) return { ...common, type: 'page', name: 'Pricing', properties: { path: '/pricing', referrer: 'https://example.com/' } };
  return {
    ...common,
    type: 'track',
    event: ['Order Completed', 'Product Viewed', 'Signed In'][sequence % 3],
    properties: { orderId: `o-${sequence}`, total: (sequence % 1000) / 10, currency: 'EUR' },
  };
}

export interface IngestOptions {
  /** Messages per /v1/batch request. */
  batch: number;
  /** Keep-alive connections posting back to back. */
  concurrency: number;
  /** Measured seconds (after one second of warm-up). */
  seconds: number;
}

export async function benchIngest({ batch: BATCH, concurrency: CONCURRENCY, seconds: SECONDS }: IngestOptions) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backflow-bench-ingest-'));
  fs.writeFileSync(
    path.join(dir, 'backflow.yaml'),
    `version: 1
sources:
  events: { type: segment, listen: 127.0.0.1:0, writeKeys: ["${WRITE_KEY}"], store: ./events.db }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_bench, baseUrl: "http://127.0.0.1:9" }
syncs:
  - { name: users, source: events, destination: gamify, mapping: { externalId: userId } }
`,
  );
  const server = spawn(process.execPath, [...cli.args, '--config', path.join(dir, 'backflow.yaml'), 'ingest'], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`ingest did not start: ${output}`)), 30_000);
      server.stdout.on('data', (chunk) => {
        output += chunk;
        const match = output.match(/listening on (http:\/\/\S+)/);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
      server.once('exit', (code) => reject(new Error(`ingest exited with ${code}: ${output}`)));
    });

    const auth = `Basic ${Buffer.from(`${WRITE_KEY}:`).toString('base64')}`;
    let sequence = 0;
    let bodyBytes = 0;
    let batches = 0;
    const latencies: number[] = [];
    let measuredEvents = 0;
    const start = performance.now();
    const measureFrom = start + WARMUP_MS;
    const end = start + WARMUP_MS + SECONDS * 1000;

    const client = async () => {
      while (performance.now() < end && sequence < MAX_EVENTS) {
        const batch = Array.from({ length: BATCH }, () => message(sequence++));
        const body = JSON.stringify({ batch, sentAt: new Date().toISOString() });
        const sent = performance.now();
        const response = await fetch(`${url}/v1/batch`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: auth },
          body,
          signal: AbortSignal.timeout(30_000),
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
        const acked = performance.now();
        if (sent >= measureFrom) {
          latencies.push(acked - sent);
          measuredEvents += BATCH;
          bodyBytes += body.length;
          batches++;
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    const elapsedSeconds = (performance.now() - measureFrom) / 1000;
    latencies.sort((a, b) => a - b);

    const result = {
      scenario: 'ingest',
      batch: BATCH,
      concurrency: CONCURRENCY,
      seconds: Number(elapsedSeconds.toFixed(1)),
      events: measuredEvents,
      eventsPerSecond: Math.round(measuredEvents / elapsedSeconds),
      ackLatencyMs: {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
        max: Number(latencies[latencies.length - 1].toFixed(1)),
      },
      averageBatchBytes: Math.round(bodyBytes / batches),
      storeBytes:
        fs.statSync(path.join(dir, 'events.db')).size +
        (fs.existsSync(path.join(dir, 'events.db-wal')) ? fs.statSync(path.join(dir, 'events.db-wal')).size : 0),
    };
    console.log(
      `Segment ingest: ${result.eventsPerSecond.toLocaleString('en-US')} events/s sustained over ${result.seconds}s ` +
        `(${BATCH} messages/batch, ~${Math.round(result.averageBatchBytes / 1024)} KB, ${CONCURRENCY} connections); ` +
        `ack latency p50 ${result.ackLatencyMs.p50} ms, p99 ${result.ackLatencyMs.p99} ms, max ${result.ackLatencyMs.max} ms`,
    );
    return result;
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '8' },
      seconds: { type: 'string', default: '10' },
    },
  });
  const result = await benchIngest({ batch: Number(values.batch), concurrency: Number(values.concurrency), seconds: Math.min(Number(values.seconds), 600) });
  console.log(JSON.stringify(result));
  writeResult(`ingest-${values.batch}x${values.concurrency}`, result);
}
