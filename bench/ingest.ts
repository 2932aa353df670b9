// Benchmark: Segment ingest throughput and acknowledgement latency on loopback.
// `backflow ingest` runs as its own process (as in production); this process plays the clients:
// CONCURRENCY keep-alive connections each POSTing /v1/batch of BATCH messages for SECONDS (bounded
// also by MAX_EVENTS), back to back or, with --rate, at a fixed total rate of events per second.
// Every 200 means the batch was committed and fsynced. With --backlog N the store starts with N
// expired events, so ingest prunes them during the run; a run without the backlog goes first, in
// the same invocation, as the baseline.
//
//   node dist/bench/ingest.js [--batch 100] [--concurrency 8] [--seconds 10] [--rate 5000] [--backlog 1000000]
//   (or from sources: node --import tsx bench/ingest.ts …)
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backlogLeft, seedBacklog } from './ingest-backlog.js';
import { machine, percentile, writeResult } from './measure.js';

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
  /** Events per second offered in total (paced); 0 or absent: back to back. */
  rate?: number;
  /** Expired events in the store at start, pruned during the run; 0 or absent: none. */
  backlog?: number;
}

export async function benchIngest({ batch: BATCH, concurrency: CONCURRENCY, seconds: SECONDS, rate = 0, backlog = 0 }: IngestOptions) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'backflow-bench-ingest-'));
  const storeFile = path.join(dir, 'events.db');
  if (backlog > 0) seedBacklog(storeFile, backlog);
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
  // When ingest printed the end of each prune pass ("source events: pruned N events …").
  const prunePassesEnded: number[] = [];
  let longestPruneBatchMs = 0;
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`ingest did not start: ${output}`)), 30_000);
      server.stdout.on('data', (chunk) => {
        for (const pass of String(chunk).matchAll(/: pruned .* batches of at most ([\d.]+) ms/g)) {
          prunePassesEnded.push(performance.now());
          longestPruneBatchMs = Math.max(longestPruneBatchMs, Number(pass[1]));
        }
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
    // Paced: batch k of the whole run is due at start + k * interval; each connection takes every
    // CONCURRENCY-th one. Latency counts from when a batch was due, so a client that falls behind
    // (the server slow to answer the previous one) shows in the figures instead of hiding.
    const interval = rate > 0 ? (BATCH / rate) * 1000 : 0;
    const loadAverageAtStart = machine().loadAverage;

    const client = async (connection: number) => {
      for (let round = 0; performance.now() < end && sequence < MAX_EVENTS; round++) {
        const due = start + (round * CONCURRENCY + connection) * interval;
        if (interval > 0 && due > performance.now()) await new Promise((resolve) => setTimeout(resolve, due - performance.now()));
        if (performance.now() >= end) break;
        const batch = Array.from({ length: BATCH }, () => message(sequence++));
        const body = JSON.stringify({ batch, sentAt: new Date().toISOString() });
        const sent = interval > 0 ? Math.min(due, performance.now()) : performance.now();
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
    await Promise.all(Array.from({ length: CONCURRENCY }, (_, connection) => client(connection)));
    const finished = performance.now();
    const elapsedSeconds = (finished - measureFrom) / 1000;
    latencies.sort((a, b) => a - b);

    const result = {
      scenario: 'ingest',
      batch: BATCH,
      concurrency: CONCURRENCY,
      offeredEventsPerSecond: rate > 0 ? rate : 'back to back',
      backlog,
      seconds: Number(elapsedSeconds.toFixed(1)),
      events: measuredEvents,
      eventsPerSecond: Math.round(measuredEvents / elapsedSeconds),
      ackLatencyMs: {
        p50: Number(percentile(latencies, 50).toFixed(1)),
        p99: Number(percentile(latencies, 99).toFixed(1)),
        max: Number(latencies[latencies.length - 1].toFixed(1)),
      },
      averageBatchBytes: Math.round(bodyBytes / batches),
      loadAverage: { atStart: loadAverageAtStart, atEnd: machine().loadAverage },
      storeBytes:
        fs.statSync(path.join(dir, 'events.db')).size +
        (fs.existsSync(path.join(dir, 'events.db-wal')) ? fs.statSync(path.join(dir, 'events.db-wal')).size : 0),
    };
    console.log(
      `Segment ingest: ${result.eventsPerSecond.toLocaleString('en-US')} events/s sustained over ${result.seconds}s ` +
        `(${BATCH} messages/batch, ~${Math.round(result.averageBatchBytes / 1024)} KB, ${CONCURRENCY} connections` +
        `${rate > 0 ? `, offered ${rate.toLocaleString('en-US')}/s` : ''}); ` +
        `ack latency p50 ${result.ackLatencyMs.p50} ms, p99 ${result.ackLatencyMs.p99} ms, max ${result.ackLatencyMs.max} ms; ` +
        `load average ${result.loadAverage.atStart.join(' / ')} at start`,
    );
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('exit', resolve));
    if (backlog === 0) return result;
    // The pass that cleared the backlog ended when ingest printed it; later passes only prune the
    // run's own events (none here: they are new). Pruning covered the window if it ended after it.
    const left = backlogLeft(storeFile);
    const pruning = {
      backlogPruned: backlog - left,
      backlogLeftAtEnd: left,
      prunedThroughoutMeasuredWindow: left > 0 || (prunePassesEnded[0] ?? 0) >= finished,
      backlogClearedAfterSeconds: prunePassesEnded.length > 0 ? Number(((prunePassesEnded[0] - start) / 1000).toFixed(1)) : null,
      longestPruneBatchMs: prunePassesEnded.length > 0 ? longestPruneBatchMs : 'the pass had not ended',
    };
    console.log(
      `  while pruning: ${pruning.backlogPruned.toLocaleString('en-US')} of ${backlog.toLocaleString('en-US')} expired events pruned` +
        (pruning.backlogClearedAfterSeconds === null
          ? ' (still pruning when the run ended)'
          : `, the backlog cleared after ${pruning.backlogClearedAfterSeconds} s`) +
        (prunePassesEnded.length > 0 ? `; longest prune transaction ${longestPruneBatchMs} ms` : ''),
    );
    return { ...result, ...pruning };
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      batch: { type: 'string', default: '100' },
      concurrency: { type: 'string', default: '8' },
      seconds: { type: 'string', default: '10' },
      rate: { type: 'string', default: '0' },
      backlog: { type: 'string', default: '0' },
    },
  });
  const options = {
    batch: Number(values.batch),
    concurrency: Number(values.concurrency),
    seconds: Math.min(Number(values.seconds), 600),
    rate: Number(values.rate),
  };
  const backlog = Math.min(Number(values.backlog), 20_000_000);
  const results = [];
  if (backlog > 0) console.log('baseline: no expired events in the store');
  results.push(await benchIngest(options));
  if (backlog > 0) {
    console.log(`with ${backlog.toLocaleString('en-US')} expired events to prune during the run`);
    results.push(await benchIngest({ ...options, backlog }));
  }
  for (const result of results) console.log(JSON.stringify(result));
  writeResult(`ingest-${values.batch}x${values.concurrency}${options.rate > 0 ? `-at-${options.rate}` : ''}${backlog > 0 ? '-pruning' : ''}`, results);
}
