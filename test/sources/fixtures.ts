// One small, real warehouse per source type for the shared contract suite: each test gets its own
// SQLite file, PostgreSQL schema, MariaDB database or DuckDB file, dropped when the test ends.
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
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

/** Column kinds; each engine declares them in its own types (`Dialect`). */
type Kind = 'key' | 'text' | 'timestamp' | 'decimal' | 'bigint' | 'json' | 'date';
type Dialect = Record<Kind, string>;

export const USER_COLUMNS: [string, Kind][] = [
  ['id', 'key'],
  ['name', 'text'],
  ['email', 'text'],
  ['country', 'text'],
  ['plan', 'text'],
  ['updated_at', 'timestamp'],
  ['balance', 'decimal'],
  ['visits', 'bigint'],
  ['attrs', 'json'],
  ['birthday', 'date'],
  ['nickname', 'text'],
];

/** The demo warehouse's users table (demo/warehouse.ts), in any engine. */
export const DEMO_COLUMNS: [string, Kind][] = [
  ['id', 'key'],
  ['first_name', 'text'],
  ['last_name', 'text'],
  ['email', 'text'],
  ['country', 'text'],
  ['phone', 'text'],
  ['device', 'text'],
  ['plan', 'text'],
  ['signup_source', 'text'],
  ['updated_at', 'timestamp'],
];

type Value = string | number | null;

/** What differs between engines: column types, and a connection that runs one statement. */
interface Engine {
  dialect: Dialect;
  /** The YAML flow mapping of the `warehouse` source. */
  source: string;
  /** `?` for most engines, `$n` for PostgreSQL. */
  placeholder: (index: number) => string;
  /** A timestamp as this engine's column takes it (ISO text in, no zone for the SQL engines). */
  timestampValue: (iso: string) => string;
  /** Runs `sql` once, or once per parameter list in `rows`. */
  run(sql: string, rows?: Value[][]): Promise<void>;
  count(table: string): Promise<number>;
}

export interface Warehouse {
  /** The YAML flow mapping of the `warehouse` source, e.g. `{ type: mysql, url: "…" }`. */
  source: string;
  /** Creates `table` with these columns, in this engine's types, holding `rows`. */
  createTable(table: string, columns: [string, Kind][], rows: object[]): Promise<void>;
  createUsers(rows: UserRow[]): Promise<void>;
  insertUsers(rows: UserRow[]): Promise<void>;
  /** Runs one statement in the engine's own SQL. */
  exec(sql: string): Promise<void>;
  count(table: string): Promise<number>;
  /** A timestamp literal (quoted) for `updated_at` in this engine. */
  timestamp(iso: string): string;
}

function warehouse(engine: Engine): Warehouse {
  const kinds = new Map<string, Map<string, Kind>>();
  const insert = async (table: string, rows: object[]) => {
    const columns = kinds.get(table)!;
    const names = Object.keys(rows[0] ?? {});
    const values = (rows as Record<string, Value>[]).map((row) =>
      names.map((name) => (columns.get(name) === 'timestamp' && row[name] !== null ? engine.timestampValue(String(row[name])) : row[name])),
    );
    await engine.run(`insert into ${table} (${names.join(', ')}) values (${names.map((_, index) => engine.placeholder(index + 1)).join(', ')})`, values);
  };
  const self: Warehouse = {
    source: engine.source,
    async createTable(table, columns, rows) {
      kinds.set(table, new Map(columns));
      await engine.run(`create table ${table} (${columns.map(([name, kind]) => `${name} ${engine.dialect[kind]}`).join(', ')})`);
      await insert(table, rows);
    },
    createUsers: (rows) => self.createTable('users', USER_COLUMNS, rows),
    insertUsers: (rows) => insert('users', rows),
    exec: (sql) => engine.run(sql),
    count: (table) => engine.count(table),
    timestamp: (iso) => `'${engine.timestampValue(iso)}'`,
  };
  return self;
}

export interface SourceFixture {
  type: 'sqlite' | 'postgres' | 'mysql' | 'duckdb';
  /** How `updated_at` and `balance` read back (documented in README.md, Sources). */
  reads: { timestamp: (iso: string) => unknown; decimal: (text: string) => unknown };
  /** "The cursor is null" in this engine's SQL (PostgreSQL must be told the parameter's type there). */
  cursorIsNull: string;
  open(dir: string): Promise<Warehouse>;
}

const uniqueName = () => `bf_${randomBytes(5).toString('hex')}`;
const withoutZone = (iso: string) => iso.replace('T', ' ').replace('Z', '');
const asDate = (iso: string) => new Date(iso);
const sameText = (text: string) => text;

export const sqliteFixture: SourceFixture = {
  type: 'sqlite',
  cursorIsNull: ':cursor is null',
  // SQLite has no timestamp or decimal type: text stays text, a NUMERIC column holds a number.
  reads: { timestamp: sameText, decimal: Number },
  async open(dir) {
    const file = path.join(dir, 'warehouse.db');
    const db = new Database(file);
    onTestFinished(() => {
      db.close();
    });
    return warehouse({
      dialect: { key: 'integer primary key', text: 'text', timestamp: 'text', decimal: 'numeric', bigint: 'integer', json: 'json', date: 'text' },
      source: '{ type: sqlite, path: ./warehouse.db }',
      placeholder: () => '?',
      timestampValue: sameText,
      run: async (sql, rows) => {
        if (!rows) return void db.exec(sql);
        const statement = db.prepare(sql);
        db.transaction(() => rows.forEach((row) => statement.run(...row)))();
      },
      count: async (table) => (db.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n,
    });
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
    return warehouse({
      dialect: { key: 'bigint primary key', text: 'text', timestamp: 'timestamp(3)', decimal: 'numeric(12,2)', bigint: 'bigint', json: 'jsonb', date: 'date' },
      source: `{ type: postgres, url: "${POSTGRES_URL}?options=-c%20search_path%3D${schema}" }`,
      placeholder: (index) => `$${index}`,
      timestampValue: withoutZone,
      run: async (sql, rows) => {
        for (const row of rows ?? [undefined]) await admin.query(sql, row);
      },
      count: async (table) => Number((await admin.query(`select count(*) as n from ${table}`)).rows[0].n),
    });
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
    return warehouse({
      dialect: {
        key: 'bigint primary key',
        text: 'varchar(200)',
        timestamp: 'datetime(3)',
        decimal: 'decimal(12,2)',
        bigint: 'bigint',
        json: 'json',
        date: 'date',
      },
      source: `{ type: mysql, url: "mysql://root@127.0.0.1:3306/${database}" }`,
      placeholder: () => '?',
      timestampValue: withoutZone,
      run: async (sql, rows) => {
        for (const row of rows ?? [undefined]) await admin.query(sql, row);
      },
      count: async (table) => Number(((await admin.query(`select count(*) as n from ${table}`))[0] as { n: number }[])[0].n),
    });
  },
};

export const duckdbFixture: SourceFixture = {
  type: 'duckdb',
  cursorIsNull: ':cursor is null',
  reads: { timestamp: asDate, decimal: sameText },
  async open(dir) {
    const file = path.join(dir, 'warehouse.duckdb');
    // Opened per statement and closed again: the source opens the file read-only, which a writer
    // holding it open would prevent.
    const withConnection = async <T>(work: (connection: DuckDBConnection) => Promise<T>): Promise<T> => {
      const instance = await DuckDBInstance.create(file);
      const connection = await instance.connect();
      try {
        return await work(connection);
      } finally {
        connection.closeSync();
        instance.closeSync();
      }
    };
    return warehouse({
      // No primary key: DuckDB refuses some updates of rows under an index.
      dialect: { key: 'bigint', text: 'varchar', timestamp: 'timestamp', decimal: 'decimal(12,2)', bigint: 'bigint', json: 'json', date: 'date' },
      source: '{ type: duckdb, path: ./warehouse.duckdb }',
      placeholder: () => '?',
      timestampValue: withoutZone,
      run: (sql, rows) =>
        withConnection(async (connection) => {
          for (const row of rows ?? [undefined]) await connection.run(sql, row);
        }),
      count: (table) =>
        withConnection(async (connection) => Number((await connection.runAndReadAll(`select count(*) as n from ${table}`)).getRowObjectsJS()[0].n)),
    });
  },
};

export const SOURCE_FIXTURES: SourceFixture[] = [sqliteFixture, postgresFixture, mysqlFixture, duckdbFixture];
