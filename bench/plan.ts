// Scenario "plan": N users in SQLite or PostgreSQL, all synced before, 1% changed since; measures the
// wall time and peak RSS of the real `backflow plan` process (GNU time), `repeat` times.
//   node dist/bench/plan.js [--rows 100000] [--changed 0.01] [--source sqlite|postgres] [--repeat 2]
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { benchDir, buildSource, configText, seedState, writeConfig } from './fixtures.js';
import { cliPath, printTable, timeCommand, writeResult } from './measure.js';

export interface PlanResult {
  scenario: 'plan';
  source: string;
  rows: number;
  changed: number;
  wallSeconds: number;
  peakRssMb: number;
  rowsPerSecond: number;
  load: number;
}

export async function benchPlan(source: 'sqlite' | 'postgres', rows: number, changedFraction = 0.01, repeat = 2): Promise<PlanResult[]> {
  const dir = benchDir(`plan-${source}`);
  const warehouse = await buildSource(source, dir, rows);
  try {
    const config = writeConfig(dir, configText(warehouse));
    await seedState(config);
    await warehouse.change(Math.round(1 / changedFraction));
    const results: PlanResult[] = [];
    for (let attempt = 0; attempt < repeat; attempt++) {
      const load = (await import('node:os')).loadavg()[0];
      const run = await timeCommand(process.execPath, [cliPath, '--config', config, 'plan', '--json', '--show', '0']);
      // Exit 2: the plan would send something, as it must with 1% changed.
      if (run.exitCode !== 2) throw new Error(`backflow plan exited ${run.exitCode}: ${run.stderr}`);
      const plan = JSON.parse(run.stdout).syncs[0];
      if (plan.counts.changed !== Math.floor(rows / Math.round(1 / changedFraction)) || plan.counts.unchanged + plan.counts.changed !== rows) {
        throw new Error(`unexpected plan counts ${JSON.stringify(plan.counts)}`);
      }
      results.push({
        scenario: 'plan',
        source,
        rows,
        changed: plan.counts.changed,
        wallSeconds: run.wallSeconds,
        peakRssMb: run.peakRssMb,
        rowsPerSecond: Math.round(rows / run.wallSeconds),
        load: Number(load.toFixed(2)),
      });
    }
    return results;
  } finally {
    await warehouse.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '100000' },
      changed: { type: 'string', default: '0.01' },
      source: { type: 'string', default: 'sqlite' },
      repeat: { type: 'string', default: '2' },
    },
  });
  const results = await benchPlan(values.source as 'sqlite' | 'postgres', Number(values.rows), Number(values.changed), Number(values.repeat));
  printTable('backflow plan', results as never);
  writeResult(`plan-${values.source}-${values.rows}`, results);
}
