// A timestamp cursor keeps the source's full precision: rows written in one transaction (the same
// millisecond, different microseconds) are read once, and an invalid one among them is counted once,
// not again on every later run. On real PostgreSQL, MariaDB and DuckDB, through the CLI.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, runCli, sqliteExec, sqliteRows, tempDir, writeFile } from './helpers/index.js';
import { MYSQL_URL, POSTGRES_URL } from './sources/fixtures.js';

interface Engine {
  /** A fresh schema (or database) holding nothing yet; dropped when the test ends. Returns how to run SQL there and the source's YAML. */
  open(name: string, dir: string): Promise<{ exec: (sql: string) => Promise<unknown>; source: string }>;
  /** The column type of the cursor, and a timestamp literal of it (UTC). */
  type: string;
  at: (text: string) => string;
}

const postgres = (type: string): Engine => ({
  type,
  at: (text) => `'${text}+00'`,
  async open(name) {
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`create schema ${name}; set search_path = ${name}`);
    onTestFinished(async () => {
      await admin.query(`drop schema ${name} cascade`);
      await admin.end();
    });
    return { exec: (sql) => admin.query(sql), source: `{ type: postgres, url: "${POSTGRES_URL}?options=-c%20search_path%3D${name}" }` };
  },
});

const mariadb: Engine = {
  type: 'datetime(6)',
  at: (text) => `'${text}'`,
  async open(name) {
    const admin = await mysql.createConnection({ uri: MYSQL_URL, multipleStatements: true });
    await admin.query(`create database ${name}; use ${name}`);
    onTestFinished(async () => {
      await admin.query(`drop database ${name}`);
      await admin.end();
    });
    return { exec: (sql) => admin.query(sql), source: `{ type: mysql, url: "mysql://root@127.0.0.1:3306/${name}" }` };
  },
};

interface RunRow {
  counts: { read: number; sent: number; invalid: number; unchanged: number };
}

const duckdb: Engine = {
  type: 'timestamp',
  at: (text) => `'${text}'`,
  async open(_, dir) {
    // Opened per statement and closed again: the source opens the file read-only.
    const exec = async (sql: string) => {
      const instance = await DuckDBInstance.create(path.join(dir, 'warehouse.duckdb'));
      const connection = await instance.connect();
      try {
        await connection.run(sql);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    };
    return { exec, source: '{ type: duckdb, path: ./warehouse.duckdb }' };
  },
};

describe.each([
  ['PostgreSQL timestamp(6)', postgres('timestamp(6)')],
  ['PostgreSQL timestamptz(6)', postgres('timestamptz(6)')],
  ['MariaDB datetime(6)', mariadb],
  ['DuckDB TIMESTAMP', duckdb],
])('a %s cursor', (_, engine) => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let exec: (sql: string) => Promise<unknown>;
  let config: string;

  beforeEach(async () => {
    dir = tempDir();
    const opened = await engine.open(`bf_${randomBytes(5).toString('hex')}`, dir);
    exec = opened.exec;
    // One transaction's rows: one millisecond, four microseconds; user 3's country is not a country.
    await exec(
      `create table users (id bigint primary key, name varchar(100), email varchar(100), country varchar(10), plan varchar(10), updated_at ${engine.type})`,
    );
    await exec(`
      insert into users values
        (1, 'Ada', 'ada@example.com', 'gb', 'pro', ${engine.at('2026-03-01 10:00:00.123456')}),
        (2, 'Bob', 'bob@example.com', 'us', 'free', ${engine.at('2026-03-01 10:00:00.123457')}),
        (3, 'Cy', 'cy@example.com', 'xx', 'free', ${engine.at('2026-03-01 10:00:00.123789')}),
        (4, 'Di', 'di@example.com', 'ng', 'pro', ${engine.at('2026-03-01 10:00:00.123999')})`);
    emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
    await emulator.start();
    onTestFinished(() => emulator.stop());
    config = writeFile(
      dir,
      'backflow.yaml',
      gamifyConfig({
        url: emulator.url,
        source: opened.source,
        syncExtra: '    cursor: updated_at',
      }),
    );
  });

  const sync = () => runCli(['--config', config, 'sync']);
  const lastRun = async () => (JSON.parse((await runCli(['--config', config, 'runs', '--json', '--limit', '1'])).stdout) as { runs: RunRow[] }).runs[0];
  const storedCursor = () => sqliteRows<{ value: string }>(path.join(dir, 'state.db'), 'select value from cursors')[0]?.value;

  it('the next incremental run reads nothing, and the invalid row is not counted again', async () => {
    expect((await sync()).code).toBe(0);
    expect((await lastRun()).counts).toMatchObject({ read: 4, sent: 3, invalid: 1 });
    expect(storedCursor()).toBe('"2026-03-01T10:00:00.123999Z"');

    expect((await sync()).code).toBe(0);
    expect((await lastRun()).counts).toMatchObject({ read: 0, sent: 0, invalid: 0, unchanged: 0 });
    expect(emulator.received).toHaveLength(3);

    // A row one microsecond later is past the cursor; one at the cursor is not.
    await exec(`insert into users values (5, 'Eve', 'eve@example.com', 'us', 'pro', ${engine.at('2026-03-01 10:00:00.124')})`);
    expect((await sync()).code).toBe(0);
    expect((await lastRun()).counts).toMatchObject({ read: 1, sent: 1 });
    expect(storedCursor()).toBe('"2026-03-01T10:00:00.124000Z"');
  });

  it('a cursor stored to the millisecond (an older Backflow) is read, re-reads that millisecond once, then moves to the microsecond', async () => {
    expect((await sync()).code).toBe(0);
    sqliteExec(path.join(dir, 'state.db'), `update cursors set value = '"2026-03-01T10:00:00.123Z"'`);

    expect((await sync()).code).toBe(0);
    expect((await lastRun()).counts).toMatchObject({ read: 4, sent: 0, unchanged: 3, invalid: 1 });
    expect(storedCursor()).toBe('"2026-03-01T10:00:00.123999Z"');
    expect((await sync()).code).toBe(0);
    expect((await lastRun()).counts).toMatchObject({ read: 0 });
  });
});
