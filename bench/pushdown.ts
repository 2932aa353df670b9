// Scenario "pushdown" (issue 21, goals 4 and 5): the steady plan (state seeded as a completed sync
// leaves it, then 1% changed) over N users in a DuckDB file, a PostgreSQL schema or a MariaDB
// database, with `pushdown: true` (key + hash read in the database, full rows fetched only for
// changed keys) and without it (every full row read), interleaved round by round with the floor
// script (bench/floor.ts) over the demo users in SQLite, each as its own process under GNU time.
// Prints each run with its ratio to that round's floor and the load average. `--wide N` adds N
// unmapped text columns of 32 characters to each row (PostgreSQL and MariaDB; the floor stays narrow).
//   node dist/bench/pushdown.js [--rows 1000000] [--repeat 3] [--source duckdb|postgres|mysql] [--wide 20]
import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildWarehouse } from '../demo/warehouse.js';
import { benchDir, buildMysql, buildSource, configText, seedState, writeConfig, type Warehouse } from './fixtures.js';
import { cliPath, printTable, repoRoot, timeCommand, writeResult } from './measure.js';

export type PushdownEngine = 'duckdb' | 'postgres' | 'mysql';

export interface PushdownResult {
  source: string;
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

/** The users in the engine measured (DuckDB: the demo's own values in a file beside the floor's). */
async function engineWarehouse(engine: PushdownEngine, dir: string, rows: number, wide: number): Promise<Warehouse> {
  if (engine === 'postgres') return buildSource('postgres', dir, rows, wide);
  if (engine === 'mysql') return buildMysql(rows, wide);
  if (wide > 0) throw new Error('--wide applies to postgres and mysql');
  const file = path.join(dir, 'warehouse.duckdb');
  await duckdb(file, usersSql(rows));
  return {
    source: '{ type: duckdb, path: ./warehouse.duckdb }',
    query: 'select * from users',
    change: (every) => duckdb(file, `update users set plan = 'changed' where id % ${every} = 0`),
    drop: async () => fs.rmSync(file, { force: true }),
  };
}

export async function benchPushdown(rows: number, repeat = 3, engine: PushdownEngine = 'duckdb', wide = 0): Promise<PushdownResult[]> {
  const dir = benchDir('pushdown');
  let warehouse: Warehouse | undefined;
  try {
    buildWarehouse(path.join(dir, 'warehouse.db'), rows);
    warehouse = await engineWarehouse(engine, dir, rows, wide);
    const plain = writeConfig(dir, configText(warehouse));
    const pushdown = path.join(dir, 'pushdown.yaml');
    fs.writeFileSync(pushdown, fs.readFileSync(plain, 'utf8').replace('    primaryKey: id\n', '    primaryKey: id\n    pushdown: true\n'));
    // Seeded with pushdown: the state a pushdown sync leaves (row hashes and the database's hashes).
    await seedState(pushdown);
    await warehouse.change(100);
    const label = `${engine}${wide > 0 ? ` + ${wide} text columns` : ''}`;

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
          source: label,
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
    await warehouse?.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: {
      rows: { type: 'string', default: '1000000' },
      repeat: { type: 'string', default: '3' },
      source: { type: 'string', default: 'duckdb' },
      wide: { type: 'string', default: '0' },
    },
  });
  const engine = values.source as PushdownEngine;
  if (!['duckdb', 'postgres', 'mysql'].includes(engine)) throw new Error(`--source must be duckdb, postgres or mysql, not ${engine}`);
  const results = await benchPushdown(Number(values.rows), Number(values.repeat), engine, Number(values.wide));
  printTable(
    `${results[0]?.source ?? engine} steady plan (1% changed) vs the floor script, ${Number(values.rows).toLocaleString('en-US')} rows (ratio to the round's floor)`,
    results as never,
  );
  writeResult(`pushdown-${engine}${Number(values.wide) > 0 ? `-wide${values.wide}` : ''}-${values.rows}`, results);
}
