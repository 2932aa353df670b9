// What only the MySQL/MariaDB source has to get right: UTC whatever the session's zone, cursors kept
// as ISO text in a VARCHAR column, and a password in the URL that never shows.
import mysql from 'mysql2/promise';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { Row, SourceReader } from '../../src/sources/contract.js';
import { mysqlSource } from '../../src/sources/mysql.js';
import { runCli, tempDir, writeFile } from '../helpers/index.js';
import { MYSQL_URL } from './fixtures.js';

async function database(): Promise<{ name: string; admin: mysql.Connection }> {
  const name = `bf_${randomBytes(5).toString('hex')}`;
  const admin = await mysql.createConnection({ uri: MYSQL_URL });
  await admin.query(`create database ${name}`);
  await admin.query(`use ${name}`);
  onTestFinished(async () => {
    await admin.query(`drop database ${name}`);
    await admin.end();
  });
  return { name, admin };
}

async function open(name: string): Promise<SourceReader> {
  const reader = await mysqlSource.open(mysqlSource.settings.parse({ url: `mysql://root@127.0.0.1:3306/${name}` }), { configDir: '.' });
  onTestFinished(() => reader.close());
  return reader;
}

async function rows(reader: SourceReader, query: string, cursor: unknown = null, cursorColumn?: string): Promise<Row[]> {
  const all: Row[] = [];
  for await (const batch of reader.read({ query, cursor, cursorColumn, batchSize: 100 })) all.push(...batch);
  return all;
}

describe('the mysql source', () => {
  it('reads TIMESTAMP and DATETIME as UTC, whatever zone wrote them or Backflow runs in', async () => {
    // Backflow's own zone must not matter (Node applies a changed TZ at once).
    const zone = process.env.TZ;
    process.env.TZ = 'Asia/Tokyo';
    onTestFinished(() => {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    });
    const { name, admin } = await database();
    await admin.query("set time_zone = '+02:00'");
    await admin.query('create table events (id int, at timestamp(3) null, local_at datetime(3))');
    await admin.query("insert into events values (1, '2026-01-01 02:00:00.125', '2026-01-01 02:00:00.125')");
    expect(await rows(await open(name), 'select * from events')).toEqual([
      // TIMESTAMP is an instant (02:00 at +02:00); DATETIME has no zone and is read as UTC.
      { id: 1, at: new Date('2026-01-01T00:00:00.125Z'), local_at: new Date('2026-01-01T02:00:00.125Z') },
    ]);
  });

  it('compares a cursor kept as ISO text in a VARCHAR column as text', async () => {
    const { name, admin } = await database();
    await admin.query('create table users (id int, updated_at varchar(30))');
    await admin.query("insert into users values (1, '2026-01-01T00:00:05.250Z'), (2, '2026-01-01T00:00:06.000Z')");
    const reader = await open(name);
    expect(await rows(reader, 'select * from users', '2026-01-01T00:00:05.250Z', 'updated_at')).toEqual([{ id: 2, updated_at: '2026-01-01T00:00:06.000Z' }]);
  });

  it('keeps the password of the URL out of every message', async () => {
    const { name, admin } = await database();
    const user = name;
    const password = `pw-${randomBytes(6).toString('hex')}`;
    await admin.query(`create user '${user}'@'%' identified by '${password}'`);
    onTestFinished(() => admin.query(`drop user '${user}'@'%'`).then(() => undefined));
    await admin.query(`grant select on ${name}.* to '${user}'@'%'`);
    await admin.query('create table users (id int, email varchar(100))');

    const dir = tempDir();
    writeFile(
      dir,
      'backflow.yaml',
      `version: 1
sources:
  warehouse: { type: mysql, url: "mysql://${user}:\${DB_PASSWORD}@127.0.0.1:3306/${name}" }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_abc, baseUrl: "http://127.0.0.1:9" }
syncs:
  - { name: users, source: warehouse, query: "select id, email from users", primaryKey: id, destination: gamify, mapping: { externalId: id, email: email } }
`,
    );
    const validate = (secret: string) => runCli(['--config', path.join(dir, 'backflow.yaml'), 'validate', '--connect'], { env: { DB_PASSWORD: secret } });

    const wrong = await validate(`${password}-wrong`);
    expect(wrong.code).toBe(1);
    expect(wrong.stdout).toContain(`sync "users": cannot run the query: source "warehouse" (mysql): Access denied for user '${user}'`);
    expect(wrong.stdout + wrong.stderr).not.toContain(password);

    const right = await validate(password);
    expect(right.stdout).toContain('valid (1 sync, every source query ran)');
    expect(right.code).toBe(0);
  });
});
