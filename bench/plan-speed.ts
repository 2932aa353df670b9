// Scenario "floor" (issue 21): over one SQLite warehouse of N users, times in the same run, each as
// its own process under GNU time: the floor script (bench/floor.ts), a first `backflow plan` (no
// state: every record mapped, validated, fingerprinted and compared by payload), and a steady plan
// (state seeded as a completed sync leaves it, then 1% changed). Prints each with its ratio to the
// floor, peak RSS and the load average when it started.
// With --baseline, the same two plans also run with another build's CLI (e.g. main's
// dist/src/cli/main.js), interleaved, so a change is measured against its base under the same load.
//   node dist/bench/plan-speed.js [--rows 1000000] [--repeat 1] [--baseline /path/to/dist/src/cli/main.js]
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { benchDir, buildSource, configText, seedState, writeConfig } from './fixtures.js';
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

export async function benchPlanSpeed(rows: number, repeat = 1, baselineCli?: string): Promise<PlanSpeedResult[]> {
  const dir = benchDir('plan-speed');
  const warehouse = await buildSource('sqlite', dir, rows);
  const config = writeConfig(dir, configText(warehouse));
  const plans: [string, string[]][] = [['', [cliPath, '--config', config, 'plan', '--json', '--show', '0']]];
  if (baselineCli) plans.unshift(['baseline ', [baselineCli, '--config', config, 'plan', '--json', '--show', '0']]);
  const timed: { run: string; seconds: number; rss: number; load: number[] }[] = [];
  const time = async (run: string, args: string[], check: (result: TimedRun) => void) => {
    const load = os.loadavg();
    const result = await timeCommand(process.execPath, args);
    check(result);
    timed.push({ run, seconds: result.wallSeconds, rss: result.peakRssMb, load });
  };
  try {
    for (let attempt = 0; attempt < repeat; attempt++) {
      await time('floor', [floorScript, path.join(dir, 'warehouse.db')], (result) => {
        if (result.exitCode !== 0 || JSON.parse(result.stdout).rows !== rows) throw new Error(`floor script failed: ${result.stdout}${result.stderr}`);
      });
      for (const [label, plan] of plans) {
        await time(`${label}first plan`, plan, (result) => {
          const counts = planCounts(result);
          if (counts.added !== rows) throw new Error(`a first plan must add every row: ${JSON.stringify(counts)}`);
        });
      }
    }
    await seedState(config);
    await warehouse.change(100);
    for (let attempt = 0; attempt < repeat; attempt++) {
      for (const [label, plan] of plans) {
        await time(`${label}steady plan`, plan, (result) => {
          const counts = planCounts(result);
          if (counts.changed !== Math.floor(rows / 100) || counts.unchanged + counts.changed !== rows) {
            throw new Error(`unexpected steady plan counts ${JSON.stringify(counts)}`);
          }
        });
      }
    }
  } finally {
    await warehouse.drop();
    fs.rmSync(dir, { recursive: true, force: true });
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
    options: { rows: { type: 'string', default: '1000000' }, repeat: { type: 'string', default: '1' }, baseline: { type: 'string' } },
  });
  const results = await benchPlanSpeed(Number(values.rows), Number(values.repeat), values.baseline);
  printTable(`floor vs backflow plan, ${Number(values.rows).toLocaleString('en-US')} SQLite rows (ratio to the fastest floor run)`, results as never);
  writeResult(`plan-speed-${values.rows}`, results);
}
