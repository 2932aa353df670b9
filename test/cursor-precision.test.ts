// A timestamp cursor keeps the source's full precision: rows written in one transaction (the same
// millisecond, different microseconds) are read once, and an invalid one among them is counted once,
// not again on every later run. On real PostgreSQL, through the CLI.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { beforeEach, describe, expect, it, onTestFinished } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, runCli, sqliteExec, sqliteRows, tempDir, writeFile } from './helpers/index.js';
import { POSTGRES_URL } from './sources/fixtures.js';

interface RunRow {
  counts: { read: number; sent: number; invalid: number; unchanged: number };
}

describe.each(['timestamp(6)', 'timestamptz(6)'])('a PostgreSQL %s cursor', (type) => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let admin: pg.Client;
  let config: string;

  beforeEach(async () => {
    const schema = `bf_${randomBytes(5).toString('hex')}`;
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`create schema ${schema}; set search_path = ${schema}`);
    onTestFinished(async () => {
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
    });
    // One transaction's rows: one millisecond, four microseconds; user 3's country is not a country.
    await admin.query(`
      create table users (id bigint primary key, name text, email text, country text, plan text, updated_at ${type});
      insert into users values
        (1, 'Ada', 'ada@example.com', 'gb', 'pro', '2026-03-01 10:00:00.123456+00'),
        (2, 'Bob', 'bob@example.com', 'us', 'free', '2026-03-01 10:00:00.123457+00'),
        (3, 'Cy', 'cy@example.com', 'xx', 'free', '2026-03-01 10:00:00.123789+00'),
        (4, 'Di', 'di@example.com', 'ng', 'pro', '2026-03-01 10:00:00.123999+00');`);
    dir = tempDir();
    emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
    await emulator.start();
    onTestFinished(() => emulator.stop());
    config = writeFile(
      dir,
      'backflow.yaml',
      gamifyConfig({
        url: emulator.url,
        source: `{ type: postgres, url: "${POSTGRES_URL}?options=-c%20search_path%3D${schema}" }`,
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
    await admin.query(`insert into users values (5, 'Eve', 'eve@example.com', 'us', 'pro', '2026-03-01 10:00:00.124+00')`);
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
