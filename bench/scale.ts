// Scenario "scale" (issue 21, goal 6): does a plan stay within 300 MB and grow linearly with the
// table? Builds a SQLite warehouse of each size (1,000,000 and 10,000,000 users by default), then
// times, each as its own process under GNU time and in the same run: the first `backflow plan` (no
// state) of every size, then, once state is seeded as a completed sync leaves it and 1% of the rows
// changed, the steady plan of every size. Wall time, CPU time (user + system, both threads) and
// peak RSS, with the ratio of each to the smallest size's figure. The smallest size is planned
// before and after the largest, so the ratio is taken against the mean of two runs that bracket it
// (the machine is shared and its load moves within minutes).
// The warehouse is written row by row in one transaction and the state seeded by a plan that
// commits every 10,000 confirmations, so neither holds the table in memory. Files go under the
// system temp folder (TMPDIR) and are removed at the end, on failure too.
//   node dist/bench/scale.js [--sizes 1000000,10000000]
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { benchDir, buildSource, configText, seedState, writeConfig, type Warehouse } from './fixtures.js';
import { cliPath, printTable, timeCommand, writeResult, type TimedRun } from './measure.js';

export interface ScaleResult {
  run: string;
  rows: number;
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  /** Wall and CPU time against the smallest size's (mean of its runs), and the ratio of the rows. */
  wallRatio: string;
  cpuRatio: string;
  rowsRatio: string;
  load: string;
}

interface Target {
  rows: number;
  dir: string;
  warehouse: Warehouse;
  config: string;
}

const log = (text: string) => console.error(`[scale ${new Date().toISOString().slice(11, 19)}] ${text}`);

function planCounts(run: TimedRun): Record<string, number> {
  // Exit 2: the plan would send something, as it must here.
  if (run.exitCode !== 2) throw new Error(`backflow plan exited ${run.exitCode}: ${run.stderr.slice(-2000)}`);
  return JSON.parse(run.stdout).syncs[0].counts;
}

/** The smallest size, the others in order, then the smallest again (brackets the larger runs). */
function order(targets: Target[]): Target[] {
  return targets.length > 1 ? [...targets, targets[0]] : targets;
}

export async function benchScale(sizes: number[] = [1_000_000, 10_000_000]): Promise<ScaleResult[]> {
  const sorted = [...sizes].sort((a, b) => a - b);
  const targets: Target[] = [];
  const timed: { run: string; rows: number; result: TimedRun; load: number[] }[] = [];
  const time = async (run: string, target: Target, check: (result: TimedRun) => void) => {
    const load = os.loadavg();
    log(`${run}, ${target.rows.toLocaleString('en-US')} rows (load ${load.map((value) => value.toFixed(2)).join(' / ')})`);
    const result = await timeCommand(process.execPath, [cliPath, '--config', target.config, 'plan', '--json', '--show', '0'], {
      timeoutMs: 30 * 60_000,
    });
    check(result);
    log(`  ${result.wallSeconds} s wall, ${result.cpuSeconds} s CPU, ${result.peakRssMb} MB peak RSS`);
    timed.push({ run, rows: target.rows, result, load });
  };
  try {
    for (const rows of sorted) {
      const started = Date.now();
      const dir = benchDir(`scale-${rows}`);
      const warehouse = await buildSource('sqlite', dir, rows);
      targets.push({ rows, dir, warehouse, config: writeConfig(dir, configText(warehouse)) });
      log(`built ${rows.toLocaleString('en-US')} users in ${dir} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    for (const target of order(targets)) {
      await time('first plan', target, (result) => {
        const counts = planCounts(result);
        if (counts.added !== target.rows) throw new Error(`a first plan must add every row: ${JSON.stringify(counts)}`);
      });
    }
    for (const target of targets) {
      const started = Date.now();
      const seeded = await seedState(target.config);
      if (seeded !== target.rows) throw new Error(`seeding confirmed ${seeded} records, expected ${target.rows}`);
      await target.warehouse.change(100);
      log(`seeded ${seeded.toLocaleString('en-US')} records and changed 1% in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    }
    for (const target of order(targets)) {
      await time('steady plan', target, (result) => {
        const counts = planCounts(result);
        if (counts.changed !== Math.floor(target.rows / 100) || counts.unchanged + counts.changed !== target.rows) {
          throw new Error(`unexpected steady plan counts ${JSON.stringify(counts)}`);
        }
      });
    }
  } finally {
    for (const target of targets) {
      await target.warehouse.drop();
      fs.rmSync(target.dir, { recursive: true, force: true });
    }
  }
  const smallest = sorted[0];
  const mean = (run: string, pick: (result: TimedRun) => number) => {
    const values = timed.filter((entry) => entry.run === run && entry.rows === smallest).map((entry) => pick(entry.result));
    return values.reduce((sum, value) => sum + value, 0) / values.length;
  };
  return timed.map(({ run, rows, result, load }) => ({
    run,
    rows,
    wallSeconds: result.wallSeconds,
    cpuSeconds: result.cpuSeconds,
    peakRssMb: result.peakRssMb,
    wallRatio: `${(result.wallSeconds / mean(run, (entry) => entry.wallSeconds)).toFixed(2)}x`,
    cpuRatio: `${(result.cpuSeconds / mean(run, (entry) => entry.cpuSeconds)).toFixed(2)}x`,
    rowsRatio: `${rows / smallest}x`,
    load: load.map((value) => value.toFixed(2)).join(' / '),
  }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { sizes: { type: 'string', default: '1000000,10000000' } } });
  const sizes = values.sizes.split(',').map((size) => Number(size.trim()));
  if (sizes.some((size) => !Number.isInteger(size) || size < 100 || size > 20_000_000)) {
    throw new Error(`--sizes takes row counts from 100 to 20,000,000, comma-separated (got "${values.sizes}")`);
  }
  const results = await benchScale(sizes);
  printTable('backflow plan at scale (SQLite; ratios to the smallest size, mean of its runs)', results as never);
  writeResult(`scale-${sizes.join('-')}`, results);
}
