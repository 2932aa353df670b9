// `npm run bench`: runs every scenario of issue 7 (or those named by --only), prints a table per
// scenario and the targets, and writes bench/results/<scenario>.json plus summary.json.
//   npm run bench -- --only plan,delivery      (scenarios: plan, floor, pushdown, scale, delivery, batching, steady, compare, ingest, fleet-budget)
//   npm run bench -- --only scale              (1M and 10M rows; not part of the default run)
//   npm run bench -- --quick                   (small sizes: checks the harness in a minute)
import { parseArgs } from 'node:util';
import { benchBatching } from './batching.js';
import { benchCompare } from './compare.js';
import { benchDelivery } from './delivery.js';
import { benchFleetBudget } from './fleet-budget.js';
import { benchIngest } from './ingest.js';
import { describeMachine, printTable, writeResult } from './measure.js';
import { benchPlan, type PlanResult } from './plan.js';
import { benchPlanSpeed } from './plan-speed.js';
import { benchPushdown } from './pushdown.js';
import { benchScale } from './scale.js';
import { benchSteady } from './steady.js';

const SCENARIOS = ['plan', 'floor', 'pushdown', 'scale', 'delivery', 'batching', 'steady', 'compare', 'ingest', 'fleet-budget'] as const;
type Scenario = (typeof SCENARIOS)[number];
// Run only when named: 10,000,000 rows take about 20 minutes and several GB of temp files.
const OPT_IN: Scenario[] = ['scale'];

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    quick: { type: 'boolean', default: false },
    repeat: { type: 'string', default: '2' },
  },
});
const chosen = (values.only?.split(',').map((name) => name.trim()) ?? SCENARIOS.filter((name) => !OPT_IN.includes(name))) as Scenario[];
for (const name of chosen) {
  if (!SCENARIOS.includes(name)) throw new Error(`unknown scenario "${name}": expected one of ${SCENARIOS.join(', ')}`);
}
const quick = values.quick;
const repeat = Number(values.repeat);
const sizes = quick
  ? {
      plan: [10_000, 50_000],
      floor: 50_000,
      pushdown: 50_000,
      scale: [10_000, 100_000],
      delivery: 2_000,
      batching: { vitally: 2_000, userpilot: 2_000, sampleSeconds: 3 },
      steady: 50_000,
      compare: 5_000,
      ingestSeconds: 3,
      ingestBacklog: 100_000,
      fleetBudgetSeconds: 2,
    }
  : {
      plan: [100_000, 1_000_000],
      floor: 1_000_000,
      pushdown: 1_000_000,
      scale: [1_000_000, 10_000_000],
      delivery: 20_000,
      batching: { vitally: 100_000, userpilot: 20_000, sampleSeconds: 30 },
      steady: 1_000_000,
      compare: 100_000,
      ingestSeconds: 10,
      ingestBacklog: 1_000_000,
      fleetBudgetSeconds: 5,
    };

const targets: string[] = [];
const check = (met: boolean, text: string) => targets.push(`${met ? 'MET    ' : 'NOT MET'}  ${text}`);
const summary: Record<string, unknown> = {};
console.log(`Machine: ${describeMachine()}`);

if (chosen.includes('plan')) {
  const results: PlanResult[] = [];
  for (const source of ['sqlite', 'postgres'] as const) for (const rows of sizes.plan) results.push(...(await benchPlan(source, rows, 0.01, repeat)));
  printTable('1. backflow plan, 1% changed since the last sync', results as never);
  writeResult('plan', results);
  summary.plan = results;
  const largest = sizes.plan[sizes.plan.length - 1];
  for (const source of ['sqlite', 'postgres']) {
    const big = results.filter((result) => result.source === source && result.rows === largest);
    const small = results.filter((result) => result.source === source && result.rows === sizes.plan[0]);
    const best = Math.min(...big.map((result) => result.wallSeconds));
    const rss = Math.max(...big.map((result) => result.peakRssMb));
    check(best < 10, `plan ${largest.toLocaleString('en-US')} rows from ${source} in under 10 s (best ${best} s)`);
    check(rss < 300, `plan peak RSS under 300 MB (${source}: ${rss} MB)`);
    const smallRss = Math.max(...small.map((result) => result.peakRssMb));
    check(
      rss < smallRss * 1.5,
      `memory does not grow with the table (${source}: ${smallRss} MB at ${sizes.plan[0].toLocaleString('en-US')} rows, ${rss} MB at ${largest.toLocaleString('en-US')})`,
    );
  }
}

if (chosen.includes('floor')) {
  // Issue 21: the first plan within 1.5x the floor script (PostgreSQL: within 1.3x the SQLite plan
  // and 2x the floor), the steady plan within 1.0x, peak RSS under 300 MB.
  const results = await benchPlanSpeed(sizes.floor, Math.max(1, repeat - 1), undefined, ['sqlite', 'postgres']);
  printTable(`1b. floor script vs backflow plan, ${sizes.floor.toLocaleString('en-US')} rows in SQLite and PostgreSQL, same run`, results as never);
  writeResult('floor', results);
  summary.floor = results;
  const best = (run: string) => Math.min(...results.filter((result) => result.run === run).map((result) => Number.parseFloat(result.ofFloor)));
  check(best('first plan, sqlite') <= 1.5, `first plan within 1.5x the floor script (${best('first plan, sqlite')}x)`);
  check(best('steady plan, sqlite') <= 1.0, `steady plan (1% changed) within 1.0x the floor script (${best('steady plan, sqlite')}x)`);
  const ofSqlite = best('first plan, postgres') / best('first plan, sqlite');
  check(ofSqlite <= 1.3, `PostgreSQL first plan within 1.3x the SQLite plan (${ofSqlite.toFixed(2)}x)`);
  check(best('first plan, postgres') <= 2, `PostgreSQL first plan within 2x the floor script (${best('first plan, postgres')}x)`);
  check(best('steady plan, postgres') <= 1.0, `PostgreSQL steady plan within 1.0x the floor script (${best('steady plan, postgres')}x)`);
  const rss = Math.max(...results.filter((result) => result.run !== 'floor').map((result) => result.peakRssMb));
  check(rss <= 300, `first and steady plan peak RSS at most 300 MB (${rss} MB)`);
}

if (chosen.includes('pushdown')) {
  // Issue 21, goal 4: the DuckDB steady plan with pushdown within 0.3x the floor script (same round).
  const results = await benchPushdown(sizes.pushdown, Math.max(1, repeat + 1));
  printTable(`1c. DuckDB steady plan (1% changed) vs the floor script, ${sizes.pushdown.toLocaleString('en-US')} rows, same run`, results as never);
  writeResult('pushdown', results);
  summary.pushdown = results;
  const best = Math.min(...results.filter((result) => result.run === 'steady plan, pushdown').map((result) => Number.parseFloat(result.ofFloor)));
  check(best <= 0.3, `DuckDB steady plan with pushdown within 0.3x the floor script (best round ${best}x)`);
}

if (chosen.includes('scale')) {
  // Issue 21, goal 6: at 10x the rows, first and steady plans within 300 MB and at most 11x the time.
  const results = await benchScale(sizes.scale);
  const [small, large] = [sizes.scale[0], sizes.scale[sizes.scale.length - 1]];
  printTable(`1d. backflow plan at ${small.toLocaleString('en-US')} and ${large.toLocaleString('en-US')} rows (SQLite), same run`, results as never);
  writeResult('scale', results);
  summary.scale = results;
  for (const run of ['first plan', 'steady plan']) {
    const big = results.find((result) => result.run === run && result.rows === large)!;
    const limit = Number(((large / small) * 1.1).toFixed(1));
    check(big.peakRssMb <= 300, `${run} over ${large.toLocaleString('en-US')} rows within 300 MB peak RSS (${big.peakRssMb} MB)`);
    check(
      Number.parseFloat(big.wallRatio) <= limit,
      `${run}: ${large / small}x the rows in at most ${limit}x the time (wall ${big.wallRatio}, CPU ${big.cpuRatio})`,
    );
  }
}

if (chosen.includes('delivery')) {
  const results = [];
  for (const requestsPerSecond of [100_000, 100]) {
    results.push(await benchDelivery({ records: sizes.delivery, latencyMs: 50, concurrency: 32, requestsPerSecond }));
  }
  printTable('2. delivery: backflow sync of changed records, 50 ms per answer, concurrency 32', results);
  writeResult('delivery', results);
  summary.delivery = results;
  for (const result of results) {
    const share = Number.parseFloat(result.ofBound);
    check(share >= 90, `delivery at ${result.ofBound} of the bound of ${result.boundPerSecond}/s (rate limit ${result.rateLimit}), target 90%`);
    if (result.rateLimit !== 'none')
      check(result.violations === 0, `rate limit never exceeded (most in any second: ${result.maxInAnySecond}, limit ${result.rateLimit})`);
  }
}

if (chosen.includes('batching')) {
  const results = await benchBatching(sizes.batching);
  printTable('2b. batch delivery: a first sync in batches and one record per request, at the vendor rate', results);
  writeResult('batching', results);
  summary.batching = results;
  for (const result of results) {
    check(
      result.violations === 0,
      `${result.vendor} ${result.mode}: rate limit never exceeded (most in any second: ${result.maxInAnySecond}, limit ${result.rateLimit})`,
    );
  }
  const batched = (vendor: string) => results.find((result) => result.vendor === vendor && result.mode === 'batch')!;
  check(
    batched('vitally').syncWallSeconds < 150,
    `${batched('vitally').records.toLocaleString('en-US')} users to Vitally at 10/s in under 2.5 min (${batched('vitally').syncWallSeconds} s)`,
  );
  check(
    batched('userpilot').syncWallSeconds < 60,
    `${batched('userpilot').records.toLocaleString('en-US')} users to Userpilot at 2/s in under a minute (${batched('userpilot').syncWallSeconds} s)`,
  );
}

if (chosen.includes('steady')) {
  const results = await benchSteady(sizes.steady, repeat);
  printTable('3. steady state: a second run over unchanged rows', results);
  writeResult('steady', results);
  summary.steady = results;
  check(
    results.every((result) => result.requests === 0),
    `a run over ${sizes.steady.toLocaleString('en-US')} unchanged rows sends nothing`,
  );
}

if (chosen.includes('compare')) {
  const results = await benchCompare(sizes.compare);
  printTable('Backflow vs the naive baseline (read the table, POST every row)', results);
  writeResult('compare', results);
  summary.compare = results;
}

if (chosen.includes('ingest')) {
  const results = [];
  for (const [batch, concurrency] of [
    [100, 8],
    [100, 1],
    [15, 4],
  ]) {
    results.push(await benchIngest({ batch, concurrency, seconds: sizes.ingestSeconds }));
  }
  // Issue 16's goal: 5,000 events/s in batches of 100 over 8 connections, acknowledged within 50 ms
  // at p99 while a backlog of expired events is pruned; the same load without the backlog as baseline.
  const paced = { batch: 100, concurrency: 8, seconds: sizes.ingestSeconds, rate: 5_000 };
  results.push(await benchIngest(paced));
  const pruning = await benchIngest({ ...paced, backlog: sizes.ingestBacklog });
  results.push(pruning);
  check(
    pruning.ackLatencyMs.p99 < 50,
    `ingest at 5,000 events/s while pruning: ack p99 ${pruning.ackLatencyMs.p99} ms (target under 50 ms on a quiet machine)`,
  );
  printTable(
    '4. Segment ingest: events/s and acknowledgement latency',
    results.map(({ ackLatencyMs, loadAverage, batch, concurrency, offeredEventsPerSecond, backlog, eventsPerSecond }) => ({
      batch,
      concurrency,
      offered: offeredEventsPerSecond,
      backlog,
      eventsPerSecond,
      ackP50: ackLatencyMs.p50,
      ackP99: ackLatencyMs.p99,
      ackMax: ackLatencyMs.max,
      load: loadAverage.atStart[0],
    })),
  );
  writeResult('ingest', results);
  summary.ingest = results;
}

if (chosen.includes('fleet-budget')) {
  // Issue 14: the cost of the fleet's shared rate budget per request, at 100 and 1,000 requests/s,
  // one member and two, against the in-process limiter in the same run.
  const results = await benchFleetBudget({ seconds: sizes.fleetBudgetSeconds, callers: 8 });
  printTable('5. fleet rate budget: cost per request vs the in-process limiter (same run)', results);
  writeResult('fleet-budget', results);
  summary.fleetBudget = results;
  for (const result of results) {
    check(result.mostInASecond <= result.rateLimit, `${result.pacer} at ${result.rateLimit}/s: at most the limit in any second (${result.mostInASecond})`);
    check(Number.parseFloat(result.ofLimit) >= 90, `${result.pacer} at ${result.rateLimit}/s: at least 90% of the limit (${result.ofLimit})`);
  }
}

if (targets.length > 0) console.log(`\nTargets\n${targets.join('\n')}`);
console.log(`\nWrote ${writeResult('summary', summary)}`);
