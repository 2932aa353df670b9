// `state copy` on a SQLite state: the reader streams a snapshot of the file (one read transaction,
// statements iterated row by row), the writer fills a target file in one write transaction.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import { StateError } from '../errors.js';
import { COPIED_COLUMNS, COPY_BATCH_ROWS, COPY_ORDER, STATE_TABLES, type CopiedTable, type StateReader, type StateWriter } from './copy-tables.js';
import { describeHolder, holderLiveness, pidIsAlive, type LockHolder } from './locks.js';
import { MIGRATIONS } from './migrations.js';

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Reads a state file that must exist and be at this Backflow's schema (it is never migrated here). */
export async function openSqliteReader(file: string): Promise<StateReader> {
  if (!fs.existsSync(file)) throw new StateError(`there is no state file at ${file}, so nothing to copy: check state.path in the config`);
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version < MIGRATIONS.length) {
      db.close();
      throw new StateError(
        `the state file ${file} has schema ${version} (this Backflow writes ${MIGRATIONS.length}): run backflow sync once to migrate it, then copy`,
      );
    }
    if (version > MIGRATIONS.length) {
      db.close();
      throw new StateError(`the state file ${file} was written by a newer Backflow (schema ${version}, this one knows ${MIGRATIONS.length}): upgrade Backflow`);
    }
    // One read transaction: every table is read from the same snapshot (WAL mode lets runs go on).
    db.exec('begin');
  } catch (error) {
    if (error instanceof StateError) throw error;
    throw new StateError(`cannot read the state file ${file} (${(error as Error).message}): check state.path in the config`);
  }
  return new SqliteReader(db);
}

class SqliteReader implements StateReader {
  constructor(private readonly db: Database.Database) {}

  liveLocks(expiryMs: number): Promise<string[]> {
    const holders = this.db.prepare('select sync, pid, host, acquired_at, heartbeat_at from locks order by sync').all() as (LockHolder & { sync: string })[];
    const here = { host: os.hostname(), pid: process.pid, nowMs: Date.now(), expiryMs, isAlive: pidIsAlive };
    return Promise.resolve(holders.filter((holder) => holderLiveness(holder, here).alive).map((holder) => `sync "${holder.sync}": ${describeHolder(holder)}`));
  }

  async *batches(table: CopiedTable): AsyncIterable<unknown[][]> {
    const columns = COPIED_COLUMNS[table].map(quote).join(', ');
    const order = (COPY_ORDER[table] ?? ['rowid']).map((column) => (column === 'rowid' ? column : quote(column))).join(', ');
    const statement = this.db.prepare(`select ${columns} from ${table} order by ${order}`).raw();
    let batch: unknown[][] = [];
    for (const row of statement.iterate() as IterableIterator<unknown[]>) {
      batch.push(row);
      if (batch.length === COPY_BATCH_ROWS) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  close(): Promise<void> {
    if (this.db.inTransaction) this.db.exec('rollback');
    this.db.close();
    return Promise.resolve();
  }
}

/** A writer into a state file; before the target's migrations ran (no file yet), it only answers tablesWithRows. */
export function openSqliteWriter(file: string): Promise<StateWriter> {
  return Promise.resolve(new SqliteWriter(file));
}

class SqliteWriter implements StateWriter {
  private readonly db?: Database.Database;
  private readonly inserts = new Map<CopiedTable, Database.Statement>();

  constructor(private readonly file: string) {
    if (!fs.existsSync(file)) return;
    this.db = new Database(file, { fileMustExist: true });
    this.db.pragma('busy_timeout = 10000');
  }

  tablesWithRows(): Promise<string[]> {
    const db = this.db;
    if (!db) return Promise.resolve([]);
    let present: Set<string>;
    try {
      present = new Set((db.prepare("select name from sqlite_master where type = 'table'").pluck().all() as string[]) ?? []);
    } catch {
      // Not a SQLite file: opening it as a state (the next step) refuses it with the full explanation.
      return Promise.resolve([]);
    }
    return Promise.resolve(STATE_TABLES.filter((table) => present.has(table) && db.prepare(`select exists (select 1 from ${table})`).pluck().get() === 1));
  }

  private get open(): Database.Database {
    if (!this.db) throw new StateError(`the target state file ${this.file} does not exist`);
    return this.db;
  }

  begin(): Promise<void> {
    // immediate: the write lock is taken now, so no other process writes between the check and the copy.
    this.open.exec('begin immediate');
    return Promise.resolve();
  }

  insert(table: CopiedTable, rows: unknown[][]): Promise<void> {
    let statement = this.inserts.get(table);
    if (!statement) {
      const columns = COPIED_COLUMNS[table];
      statement = this.open.prepare(`insert into ${table} (${columns.map(quote).join(', ')}) values (${columns.map(() => '?').join(', ')})`);
      this.inserts.set(table, statement);
    }
    for (const row of rows) statement.run(row);
    return Promise.resolve();
  }

  commit(): Promise<void> {
    // SQLite numbers new runs past the largest id in the table: nothing to move.
    this.open.exec('commit');
    return Promise.resolve();
  }

  close(): Promise<void> {
    if (this.db?.open) {
      if (this.db.inTransaction) this.db.exec('rollback');
      this.db.close();
    }
    return Promise.resolve();
  }
}
