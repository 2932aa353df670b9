// One small, real warehouse per source type for the shared contract suite: each test gets its own
// SQLite file, PostgreSQL schema, MariaDB database or DuckDB file, dropped when the test ends.
import { DuckDBInstance } from '@duckdb/node-api';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { onTestFinished } from 'vitest';

export const POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';
export const MYSQL_URL = 'mysql://root@127.0.0.1:3306/test';

/** A users row as the tests write it; every engine stores it in its own column types. */
export interface UserRow {
  id: number;
  name: string;
  email: string;
  country: string;
  plan: string;
  /** ISO 8601 in UTC, with milliseconds. */
  updated_at: string;
  /** Exact decimal text. */
  balance: string;
  /** A BIGINT, as text when it exceeds 2^53. */
  visits: number | string;
  /** JSON text, or null. */
  attrs: string | null;
  /** YYYY-MM-DD */
  birthday: string;
  nickname: string | null;
}

export const BIG_VISITS = '9007199254740993'; // 2^53 + 1: not exact as a JS number

export function contractUsers(count: number, start = 1): UserRow[] {
  return Array.from({ length: count }, (_, index) => {
    const id = start + index;
    return {
      id,
      name: `User ${id}`,
      email: `user${id}@example.com`,
      country: ['ng', 'us', 'gb'][id % 3],
      plan: id % 2 ? 'free' : 'pro',
      updated_at: new Date(Date.UTC(2026, 0, 1) + id * 1000 + 250).toISOString(),
      balance: `${id * 100}.50`,
      visits: id === 1 ? BIG_VISITS : id * 10,
      attrs: id === 5 ? null : JSON.stringify({ tier: id % 2 ? 'gold' : 'silver', score: id }),
      birthday: `1990-02-${String((id % 28) + 1).padStart(2, '0')}`,
      nickname: id % 2 ? `nick${id}` : null,
    };
  });
}

const COLUMNS = ['id', 'name', 'email', 'country', 'plan', 'updated_at', 'balance', 'visits', 'attrs', 'birthday', 'nickname'] as const;

/** Column types per engine: what a data engineer would declare for these values. */
interface Dialect {
  id: string;
  text: string;
  timestamp: string;
  decimal: string;
  bigint: string;
  json: string;
  date: string;
}

function createTable(dialect: Dialect): string {
  const d = dialect;
  return `create table users (id ${d.id}, name ${d.text}, email ${d.text}, country ${d.text}, plan ${d.text},
    updated_at ${d.timestamp}, balance ${d.decimal}, visits ${d.bigint}, attrs ${d.json}, birthday ${d.date}, nickname ${d.text})`;
}

export interface Warehouse {
  /** The YAML flow mapping of the `warehouse` source, e.g. `{ type: mysql, url: "…" }`. */
  source: string;
  /** Creates `users` in this engine's column types with these rows. */
  createUsers(rows: UserRow[]): Promise<void>;
  insertUsers(rows: UserRow[]): Promise<void>;
  /** Runs one statement in the engine's own SQL. */
  exec(sql: string): Promise<void>;
  count(table: string): Promise<number>;
  /** A timestamp literal (quoted) for `updated_at` in this engine. */
  timestamp(iso: string): string;
}

export interface SourceFixture {
  type: 'sqlite' | 'postgres' | 'mysql' | 'duckdb';
  /** How `updated_at` and `balance` read back (documented in docs/sources.md). */
  reads: { timestamp: (iso: string) => unknown; decimal: (text: string) => unknown };
  /** "The cursor is null" in this engine's SQL (PostgreSQL must be told the parameter's type there). */
  cursorIsNull: string;
  open(dir: string): Promise<Warehouse>;
}

const uniqueName = () => `bf_${randomBytes(5).toString('hex')}`;
const sqlTimestamp = (iso: string) => `'${iso.replace('T', ' ').replace('Z', '')}'`;
const values = (row: UserRow, timestamp: (iso: string) => string) =>
  COLUMNS.map((column) => (column === 'updated_at' ? timestamp(row.updated_at) : row[column]));

const asDate = (iso: string) => new Date(iso);
const sameText = (text: string) => text;

export const sqliteFixture: SourceFixture = {
  type: 'sqlite',
  cursorIsNull: ':cursor is null',
  // SQLite has no timestamp or decimal type: text stays text, a NUMERIC column holds a number.
  reads: { timestamp: sameText, decimal: Number },
  async open(dir) {
    const file = path.join(dir, 'warehouse.db');
    const run = (work: (db: Database.Database) => void) => {
      const db = new Database(file);
      try {
        work(db);
      } finally {
        db.close();
      }
    };
    const insert = (rows: UserRow[]) =>
      run((db) => {
        const statement = db.prepare(`insert into users values (${COLUMNS.map(() => '?').join(', ')})`);
        db.transaction(() => rows.forEach((row) => statement.run(...values(row, (iso) => iso))))();
      });
    return {
      source: '{ type: sqlite, path: ./warehouse.db }',
      async createUsers(rows) {
        run((db) => db.exec(createTable({ id: 'integer primary key', text: 'text', timestamp: 'text', decimal: 'numeric', bigint: 'integer', json: 'json', date: 'text' })));
        insert(rows);
      },
      insertUsers: async (rows) => insert(rows),
      exec: async (sql) => run((db) => db.exec(sql)),
      count: async (table) => {
        let count = 0;
        run((db) => (count = (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n));
        return count;
      },
      timestamp: (iso) => `'${iso}'`,
    };
  },
};

export const postgresFixture: SourceFixture = {
  type: 'postgres',
  cursorIsNull: ':cursor::timestamp is null',
  reads: { timestamp: asDate, decimal: sameText },
  async open() {
    const schema = uniqueName();
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`create schema ${schema}`);
    // A held lock must fail the test quickly, not hang it.
    await admin.query(`set lock_timeout = '5s'; set search_path = ${schema}`);
    onTestFinished(async () => {
      await admin.query(`drop schema ${schema} cascade`);
      await admin.end();
    });
    const insert = async (rows: UserRow[]) => {
      for (const row of rows) {
        await admin.query(`insert into users values (${COLUMNS.map((_, index) => `$${index + 1}`).join(', ')})`, values(row, (iso) => iso.replace('Z', '')));
      }
    };
    return {
      source: `{ type: postgres, url: "${POSTGRES_URL}?options=-c%20search_path%3D${schema}" }`,
      async createUsers(rows) {
        await admin.query(createTable({ id: 'bigint primary key', text: 'text', timestamp: 'timestamp(3)', decimal: 'numeric(12,2)', bigint: 'bigint', json: 'jsonb', date: 'date' }));
        await insert(rows);
      },
      insertUsers: insert,
      exec: async (sql) => void (await admin.query(sql)),
      count: async (table) => Number((await admin.query(`select count(*) as n from ${table}`)).rows[0].n),
      timestamp: sqlTimestamp,
    };
  },
};

export const mysqlFixture: SourceFixture = {
  type: 'mysql',
  cursorIsNull: ':cursor is null',
  reads: { timestamp: asDate, decimal: sameText },
  async open() {
    const database = uniqueName();
    const admin = await mysql.createConnection({ uri: MYSQL_URL });
    await admin.query(`create database ${database}`);
    await admin.query(`use ${database}`);
    await admin.query('set session lock_wait_timeout = 5');
    onTestFinished(async () => {
      await admin.query(`drop database ${database}`);
      await admin.end();
    });
    const insert = async (rows: UserRow[]) => {
      for (const row of rows) {
        await admin.query(`insert into users values (${COLUMNS.map(() => '?').join(', ')})`, values(row, (iso) => iso.replace('T', ' ').replace('Z', '')));
      }
    };
    return {
      source: `{ type: mysql, url: "mysql://root@127.0.0.1:3306/${database}" }`,
      async createUsers(rows) {
        await admin.query(createTable({ id: 'bigint primary key', text: 'varchar(200)', timestamp: 'datetime(3)', decimal: 'decimal(12,2)', bigint: 'bigint', json: 'json', date: 'date' }));
        await insert(rows);
      },
      insertUsers: insert,
      exec: async (sql) => void (await admin.query(sql)),
      count: async (table) => Number(((await admin.query(`select count(*) as n from ${table}`))[0] as { n: number }[])[0].n),
      timestamp: sqlTimestamp,
    };
  },
};

export const duckdbFixture: SourceFixture = {
  type: 'duckdb',
  cursorIsNull: ':cursor is null',
  reads: { timestamp: asDate, decimal: sameText },
  async open(dir) {
    const file = path.join(dir, 'warehouse.duckdb');
    // Opened per change and closed again: the source opens the file read-only, which a writer
    // holding it open would prevent.
    const run = async <T>(work: (connection: Awaited<ReturnType<DuckDBInstance['connect']>>) => Promise<T>): Promise<T> => {
      const instance = await DuckDBInstance.create(file);
      const connection = await instance.connect();
      try {
        return await work(connection);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    };
    const insert = (rows: UserRow[]) =>
      run(async (connection) => {
        for (const row of rows) {
          await connection.run(`insert into users values (${COLUMNS.map(() => '?').join(', ')})`, values(row, (iso) => iso.replace('Z', '')));
        }
      });
    return {
      source: '{ type: duckdb, path: ./warehouse.duckdb }',
      async createUsers(rows) {
        await run((connection) => connection.run(createTable({ id: 'bigint', text: 'varchar', timestamp: 'timestamp', decimal: 'decimal(12,2)', bigint: 'bigint', json: 'json', date: 'date' })));
        await insert(rows);
      },
      insertUsers: insert,
      exec: (sql) => run(async (connection) => void (await connection.run(sql))),
      count: (table) => run(async (connection) => Number((await connection.runAndReadAll(`select count(*) as n from ${table}`)).getRowObjectsJS()[0].n)),
      timestamp: sqlTimestamp,
    };
  },
};

export const SOURCE_FIXTURES: SourceFixture[] = [sqliteFixture, postgresFixture, mysqlFixture, duckdbFixture];
