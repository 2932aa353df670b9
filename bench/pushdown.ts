// Scenario "pushdown" (issue 21, goal 4): the steady plan (state seeded as a completed sync leaves
// it, then 1% changed) over N users in a DuckDB file, with `pushdown: true` (key + hash() read in
// DuckDB, full rows fetched only for changed keys) and without it (every full row read), interleaved
// round by round with the floor script (bench/floor.ts) over the same users in SQLite, each as its own
// process under GNU time. Prints each run with its ratio to that round's floor and the load average.
//   node dist/bench/pushdown.js [--rows 1000000] [--repeat 3]
import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildWarehouse } from '../demo/warehouse.js';
import { benchDir, configText, seedState, writeConfig } from './fixtures.js';
import { cliPath, printTable, repoRoot, timeCommand, writeResult } from './measure.js';

export interface PushdownResult {
  round: number;
  run: string;
  rows: number;
  wallSeconds: number;
  ofFloor: string;
  peakRssMb: number;
  load: string;
}

const floorScript = path.join(repoRoot, 'dist', 'bench', 'floor.js');

/** Runs SQL on the DuckDB file, opened for just that. */
async function duckdb(file: string, sql: string): Promise<void> {
  const instance = await DuckDBInstance.create(file);
  const connection = await instance.connect();
  try {
    await connection.run(sql);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** The demo's users (demo/warehouse.ts) as DuckDB computes them: the same values, updated_at a TIMESTAMP. */
export function usersSql(rows: number): string {
  const list = (values: (string | null)[]) => `[${values.map((value) => (value === null ? 'null' : `'${value}'`)).join(', ')}]`;
  const first = list(['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Margaret', 'Linus', 'Radia', 'Donald', 'Frances', 'John']);
  const last = list(['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Thompson', 'Hamilton', 'Torvalds', 'Perlman', 'Knuth', 'Allen', 'Backus']);
  return `create table users as
    select id, ${first}[1 + id % 12] as first_name, ${last}[1 + (id * 7) % 12] as last_name,
      ' ' || ${first}[1 + id % 12] || '.' || ${last}[1 + (id * 7) % 12] || id || '@Example.com ' as email,
      ${list(['ng', 'us', 'gb', 'de', 'fr', 'br', 'in', 'jp', 'ke', 'ca'])}[1 + (id * 3) % 10] as country,
      case when id % 5 = 0 then null else '+1555' || lpad(id::varchar, 7, '0') end as phone,
      ${list(['mobile', 'desktop', 'tablet', null])}[1 + id % 4] as device,
      ${list(['free', 'pro', 'team', 'enterprise'])}[1 + (id * 5) % 4] as plan,
      ${list(['organic', 'referral', 'facebook_ads', 'newsletter'])}[1 + id % 4] as signup_source,
      timestamp '2026-01-01' + id * interval 1 minute as updated_at
    from range(1, ${rows + 1}) t(id)`;
}

export async function benchPushdown(rows: number, repeat = 3): Promise<PushdownResult[]> {
  const dir = benchDir('pushdown');
  try {
    buildWarehouse(path.join(dir, 'warehouse.db'), rows);
    const file = path.join(dir, 'warehouse.duckdb');
    await duckdb(file, usersSql(rows));
    const source = { source: '{ type: duckdb, path: ./warehouse.duckdb }', query: 'select * from users' };
    const plain = writeConfig(dir, configText(source));
    const pushdown = path.join(dir, 'pushdown.yaml');
    fs.writeFileSync(pushdown, fs.readFileSync(plain, 'utf8').replace('    primaryKey: id\n', '    primaryKey: id\n    pushdown: true\n'));
    // Seeded with pushdown: the state a pushdown sync leaves (row hashes and DuckDB's hashes).
    await seedState(pushdown);
    await duckdb(file, `update users set plan = 'changed' where id % 100 = 0`);

    const results: PushdownResult[] = [];
    for (let round = 1; round <= repeat; round++) {
      const timed: { run: string; seconds: number; rss: number; load: number[] }[] = [];
      const time = async (run: string, args: string[], check: (stdout: string, exitCode: number) => void) => {
        const load = os.loadavg();
        const result = await timeCommand(process.execPath, args);
        check(result.stdout, result.exitCode);
        timed.push({ run, seconds: result.wallSeconds, rss: result.peakRssMb, load });
      };
      await time('floor (SQLite)', [floorScript, path.join(dir, 'warehouse.db')], (stdout, code) => {
        if (code !== 0 || JSON.parse(stdout).rows !== rows) throw new Error(`floor script failed: ${stdout}`);
      });
      for (const [run, config] of [
        ['steady plan, pushdown', pushdown],
        ['steady plan, full read', plain],
      ]) {
        await time(run, [cliPath, '--config', config, 'plan', '--json', '--show', '0'], (stdout, code) => {
          // Exit 2: the plan would send something, as it must with 1% changed.
          if (code !== 2) throw new Error(`backflow plan exited ${code}: ${stdout}`);
          const { counts } = JSON.parse(stdout).syncs[0];
          if (counts.changed !== Math.floor(rows / 100) || counts.unchanged + counts.changed !== rows) {
            throw new Error(`unexpected steady plan counts ${JSON.stringify(counts)}`);
          }
        });
      }
      const floor = timed[0].seconds;
      for (const entry of timed) {
        results.push({
          round,
          run: entry.run,
          rows,
          wallSeconds: entry.seconds,
          ofFloor: `${(entry.seconds / floor).toFixed(2)}x`,
          peakRssMb: entry.rss,
          load: entry.load.map((value) => value.toFixed(2)).join(' / '),
        });
      }
    }
    return results;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, repeat: { type: 'string', default: '3' } } });
  const results = await benchPushdown(Number(values.rows), Number(values.repeat));
  printTable(
    `DuckDB steady plan (1% changed) vs the floor script, ${Number(values.rows).toLocaleString('en-US')} rows (ratio to the round's floor)`,
    results as never,
  );
  writeResult(`pushdown-${values.rows}`, results);
}
