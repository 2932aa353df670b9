// What only the DuckDB source has: syncing plain exports (Parquet, CSV) whose relative paths resolve
// against the config file, DuckDB's nested and wide types as plain values, and a clear missing file.
import { DuckDBInstance } from '@duckdb/node-api';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { duckdbSource } from '../../src/sources/duckdb.js';
import type { Row, SourceReader } from '../../src/sources/contract.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { runCli, tempDir, writeFile } from '../helpers/index.js';

/** Runs SQL in a throwaway in-memory DuckDB (to write the export files). */
async function duckdb(sql: string): Promise<void> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    await connection.run(sql);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** 25 users as DuckDB rows: ids from..to, updated_at a second apart. */
const usersSql = (from: number, to: number) =>
  `select range as id, 'User ' || range as name, 'user' || range || '@example.com' as email,
     ['ng', 'us', 'gb'][range % 3 + 1] as country, timestamp '2026-01-01' + to_seconds(range) as updated_at
   from range(${from}, ${to + 1})`;

async function open(configDir: string, settings: Record<string, unknown> = {}): Promise<SourceReader> {
  const reader = await duckdbSource.open(duckdbSource.settings.parse(settings), { configDir });
  onTestFinished(() => reader.close());
  return reader;
}

async function rows(reader: SourceReader, query: string): Promise<Row[]> {
  const all: Row[] = [];
  for await (const batch of reader.read({ query, cursor: null, batchSize: 100 })) all.push(...batch);
  return all;
}

describe('the duckdb source over exported files', () => {
  let emulator: GamifyHostEmulator;
  let env: NodeJS.ProcessEnv;
  let dir: string;

  beforeEach(async () => {
    emulator = new GamifyHostEmulator(['pk_test_files_key']);
    env = { GAMIFY_KEY: 'pk_test_files_key', GAMIFY_URL: await emulator.start() };
    dir = tempDir();
  });
  afterEach(() => emulator.stop());

  const config = (query: string, cursor = '') => `
version: 1
state: { path: ./state.db }
sources:
  exports: { type: duckdb }
destinations:
  gamify: { type: gamifyhost, apiKey: "\${GAMIFY_KEY}", baseUrl: "\${GAMIFY_URL}", rateLimit: { requestsPerSecond: 1000 } }
syncs:
  - name: users
    source: exports
    query: "${query}"
    primaryKey: id
    destination: gamify
    batchSize: 10${cursor ? `\n    cursor: ${cursor}` : ''}
    mapping:
      externalId: id
      displayName: name
      email: email
      country: { column: country, transform: upper }
      metadata.updatedAt: updated_at
`;

  it('syncs Parquet files matched by a glob relative to the config file, then only newer rows', async () => {
    fs.mkdirSync(path.join(dir, 'export/users'), { recursive: true });
    await duckdb(`copy (${usersSql(1, 15)}) to '${dir}/export/users/part-1.parquet' (format parquet)`);
    await duckdb(`copy (${usersSql(16, 25)}) to '${dir}/export/users/part-2.parquet' (format parquet)`);
    writeFile(dir, 'backflow.yaml', config("select * from read_parquet('export/users/*.parquet')", 'updated_at'));
    // The CLI runs in the repository folder: the relative glob must resolve against the config's folder.
    const cli = (...args: string[]) => runCli(['--config', path.join(dir, 'backflow.yaml'), ...args], { env });

    const first = await cli('sync');
    expect(first.stdout + first.stderr).toContain('Sync users: success');
    expect(first.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(25);
    expect(emulator.sentBodies.find((body) => body.externalId === '7')).toEqual({
      externalId: '7',
      displayName: 'User 7',
      email: 'user7@example.com',
      country: 'US',
      metadata: { updatedAt: '2026-01-01T00:00:07.000Z' },
    });

    await duckdb(`copy (${usersSql(26, 27)}) to '${dir}/export/users/part-3.parquet' (format parquet)`);
    const second = await cli('sync', '--json');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).runs[0].counts).toMatchObject({ read: 2, added: 2, sent: 2 });
    expect(emulator.sentBodies.slice(25).map((body) => body.externalId)).toEqual(['26', '27']);
  });

  it('syncs a CSV export read with read_csv_auto', async () => {
    await duckdb(`copy (${usersSql(1, 25)}) to '${dir}/users.csv' (header)`);
    writeFile(dir, 'backflow.yaml', config("select * from read_csv_auto('users.csv')"));
    const result = await runCli(['--config', path.join(dir, 'backflow.yaml'), 'sync'], { env });
    expect(result.stderr + result.stdout).toContain('Sync users: success');
    expect(result.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(25);
    expect(emulator.sentBodies.find((body) => body.externalId === '25')).toEqual({
      externalId: '25',
      displayName: 'User 25',
      email: 'user25@example.com',
      country: 'US',
      metadata: { updatedAt: '2026-01-01T00:00:25.000Z' },
    });
  });

  it('reads lists, structs, maps, wide integers and zoned timestamps as plain values', async () => {
    const [row] = await rows(
      await open(dir),
      `select [1, 2] as list, {'tier': 'gold', 'flags': [true]} as struct, map {'a': 1} as map,
         170141183460469231731687303715884105727::hugeint as huge, 42::hugeint as small, 3.5::double as ratio,
         timestamptz '2026-01-01 02:00:00+02' as zoned, 'ab'::blob as bytes, time '10:00:01' as at,
         '00000000-0000-0000-0000-000000000001'::uuid as uuid, [{'k': 1.25::decimal(4,2)}] as nested, null::varchar as nothing`,
    );
    expect(row).toEqual({
      list: [1, 2],
      struct: { tier: 'gold', flags: [true] },
      map: { a: 1 },
      huge: '170141183460469231731687303715884105727',
      small: 42,
      ratio: 3.5,
      zoned: new Date('2026-01-01T00:00:00.000Z'),
      bytes: Buffer.from('ab'),
      at: '10:00:01',
      uuid: '00000000-0000-0000-0000-000000000001',
      nested: [{ k: '1.25' }],
      nothing: null,
    });
  });

  it('says which database file is missing', async () => {
    await expect(open(dir, { path: 'missing.duckdb' })).rejects.toThrow(`DuckDB database file ${path.join(dir, 'missing.duckdb')} does not exist`);
  });

  it('refuses a memory limit that is not a size', () => {
    expect(duckdbSource.settings.safeParse({ memoryLimit: 'lots' }).error?.issues[0].message).toBe('expected a size such as 512MB or 2GB');
  });
});
