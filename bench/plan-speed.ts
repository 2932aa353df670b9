// Scenario "floor" (issue 21): over one warehouse of N users in SQLite and the same users in
// PostgreSQL, times in the same run, each as its own process under GNU time: the floor script
// (bench/floor.ts, over the SQLite file), a first `backflow plan` from each source (no state: every
// record mapped, validated, fingerprinted and compared by payload), and a steady plan from each
// (state seeded as a completed sync leaves it, then 1% changed). Prints each with its ratio to the
// floor, peak RSS and the load average when it started.
// With --baseline, the same two plans also run with another build's CLI (e.g. main's
// dist/src/cli/main.js), interleaved, so a change is measured against its base under the same load.
//   node dist/bench/plan-speed.js [--rows 1000000] [--repeat 1] [--sources sqlite,postgres] [--baseline /path/to/dist/src/cli/main.js]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchDir, buildSource, configText, seedState, writeConfig, type Warehouse } from './fixtures.js';
import { cliPath, printTable, repoRoot, timeCommand, writeResult, type TimedRun } from './measure.js';

export interface PlanSpeedResult {
  run: string;
  rows: number;
  wallSeconds: number;
  ofFloor: string;
  peakRssMb: number;
  load: string;
}

const floorScript = path.join(repoRoot, 'dist', 'bench', 'floor.js');

function planCounts(run: TimedRun): Record<string, number> {
  // Exit 2: the plan would send something, as it must here.
  if (run.exitCode !== 2) throw new Error(`backflow plan exited ${run.exitCode}: ${run.stderr.slice(-2000)}`);
  return JSON.parse(run.stdout).syncs[0].counts;
}

/** A warehouse of the bench's users and the plan commands (this build's, and the baseline's) over it. */
interface PlanTarget {
  kind: 'sqlite' | 'postgres';
  dir: string;
  warehouse: Warehouse;
  config: string;
  plans: [string, string[]][];
}

async function planTarget(kind: 'sqlite' | 'postgres', rows: number, baselineCli?: string): Promise<PlanTarget> {
  const dir = benchDir(`plan-speed-${kind}`);
  const warehouse = await buildSource(kind, dir, rows);
  const config = writeConfig(dir, configText(warehouse));
  const plan = (cli: string) => [cli, '--config', config, 'plan', '--json', '--show', '0'];
  const plans: [string, string[]][] = [[`${kind}`, plan(cliPath)]];
  if (baselineCli) plans.unshift([`${kind} baseline`, plan(baselineCli)]);
  return { kind, dir, warehouse, config, plans };
}

/**
 * The floor, then each source's first plans, `repeat` rounds interleaved; then each source's steady
 * plans, interleaved too. With `postgres`, the same users are also loaded into PostgreSQL (issue 21,
 * goals 2 and 3: its plans against the SQLite ones and the floor, in the same run).
 */
export async function benchPlanSpeed(
  rows: number,
  repeat = 1,
  baselineCli?: string,
  kinds: ('sqlite' | 'postgres')[] = ['sqlite'],
): Promise<PlanSpeedResult[]> {
  const targets: PlanTarget[] = [];
  const timed: { run: string; seconds: number; rss: number; load: number[] }[] = [];
  const time = async (run: string, args: string[], check: (result: TimedRun) => void) => {
    const load = os.loadavg();
    const result = await timeCommand(process.execPath, args);
    check(result);
    timed.push({ run, seconds: result.wallSeconds, rss: result.peakRssMb, load });
  };
  try {
    for (const kind of kinds) targets.push(await planTarget(kind, rows, baselineCli));
    // The floor reads the SQLite file, which is built for it when no SQLite plan is timed.
    const floorDir = targets.find((target) => target.kind === 'sqlite')?.dir ?? benchDir('plan-speed-floor');
    if (!targets.some((target) => target.kind === 'sqlite')) await buildSource('sqlite', floorDir, rows);
    for (let attempt = 0; attempt < repeat; attempt++) {
      await time('floor', [floorScript, path.join(floorDir, 'warehouse.db')], (result) => {
        if (result.exitCode !== 0 || JSON.parse(result.stdout).rows !== rows) throw new Error(`floor script failed: ${result.stdout}${result.stderr}`);
      });
      for (const target of targets) {
        for (const [label, plan] of target.plans) {
          await time(`first plan, ${label}`, plan, (result) => {
            const counts = planCounts(result);
            if (counts.added !== rows) throw new Error(`a first plan must add every row: ${JSON.stringify(counts)}`);
          });
        }
      }
    }
    for (const target of targets) {
      await seedState(target.config);
      await target.warehouse.change(100);
    }
    for (let attempt = 0; attempt < repeat; attempt++) {
      for (const target of targets) {
        for (const [label, plan] of target.plans) {
          await time(`steady plan, ${label}`, plan, (result) => {
            const counts = planCounts(result);
            if (counts.changed !== Math.floor(rows / 100) || counts.unchanged + counts.changed !== rows) {
              throw new Error(`unexpected steady plan counts ${JSON.stringify(counts)}`);
            }
          });
        }
      }
    }
    if (!targets.some((target) => target.kind === 'sqlite')) fs.rmSync(floorDir, { recursive: true, force: true });
  } finally {
    for (const target of targets) {
      await target.warehouse.drop();
      fs.rmSync(target.dir, { recursive: true, force: true });
    }
  }
  const floorSeconds = Math.min(...timed.filter((entry) => entry.run === 'floor').map((entry) => entry.seconds));
  return timed.map((entry) => ({
    run: entry.run,
    rows,
    wallSeconds: entry.seconds,
    ofFloor: `${(entry.seconds / floorSeconds).toFixed(2)}x`,
    peakRssMb: entry.rss,
    load: entry.load.map((value) => value.toFixed(2)).join(' / '),
  }));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      repeat: { type: 'string', default: '1' },
      baseline: { type: 'string' },
      sources: { type: 'string', default: 'sqlite,postgres' },
    },
  });
  const kinds = values.sources.split(',').map((kind) => kind.trim()) as ('sqlite' | 'postgres')[];
  const results = await benchPlanSpeed(Number(values.rows), Number(values.repeat), values.baseline, kinds);
  printTable(
    `floor vs backflow plan, ${Number(values.rows).toLocaleString('en-US')} rows (${kinds.join(', ')}; ratio to the fastest floor run)`,
    results as never,
  );
  writeResult(`plan-speed-${values.rows}`, results);
}
