// `state copy` on a PostgreSQL state, over a connection of its own (the store's thread answers the
// store contract, which has no bulk export): the reader streams one repeatable-read snapshot through
// a server-side cursor, the writer fills the target schema in one transaction with multi-row inserts.
import pg from 'pg';
import { StateError } from '../../errors.js';
import { COPIED_COLUMNS, COPY_BATCH_ROWS, COPY_ORDER, STATE_TABLES, type CopiedTable, type StateReader, type StateWriter } from '../copy-tables.js';
import { describeHolder, type LockHolder } from '../locks.js';
import { describePgLocation, explainPgError, quoteIdent, type PgLocation, type PgSettingNames } from './connection.js';
import { PG_MIGRATIONS } from './migrations.js';

type Query = (text: string, values?: unknown[], rowMode?: 'array') => Promise<pg.QueryResult>;

/** A connection whose every failure is said as explainPgError says it, naming `settings`. */
async function connect(location: PgLocation, settings?: PgSettingNames): Promise<{ query: Query; end: () => Promise<void> }> {
  const client = new pg.Client({ connectionString: location.url, application_name: 'backflow', connectionTimeoutMillis: 10_000 });
  // A connection lost between queries fails the next query, which says so.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw explainPgError(error, location, settings);
  }
  const query: Query = async (text, values, rowMode) => {
    try {
      return rowMode ? await client.query({ text, values, rowMode }) : await client.query(text, values);
    } catch (error) {
      throw explainPgError(error, location, settings);
    }
  };
  return { query, end: () => client.end().catch(() => undefined) };
}

export async function openPgReader(location: PgLocation): Promise<StateReader> {
  const connection = await connect(location);
  try {
    // One snapshot for every table: a run committing meanwhile is either wholly in the copy or not at all.
    await connection.query('begin isolation level repeatable read read only');
    const schema = (await connection.query('select 1 from pg_namespace where nspname = $1', [location.schema])).rowCount === 1;
    const meta =
      schema &&
      (await connection.query("select 1 from information_schema.tables where table_schema = $1 and table_name = 'meta'", [location.schema])).rowCount === 1;
    if (!meta)
      throw new StateError(`there is no Backflow state in ${describePgLocation(location)}, so nothing to copy: check state.url and state.schema in the config`);
    const version =
      ((await connection.query(`select version from ${quoteIdent(location.schema)}.meta`)).rows[0] as { version: number } | undefined)?.version ?? 0;
    if (version < PG_MIGRATIONS.length) {
      throw new StateError(
        `the state in ${describePgLocation(location)} has schema ${version} (this Backflow writes ${PG_MIGRATIONS.length}): run backflow sync once to migrate it, then copy`,
      );
    }
    if (version > PG_MIGRATIONS.length) {
      throw new StateError(
        `the state in ${describePgLocation(location)} was written by a newer Backflow (schema ${version}, this one knows ${PG_MIGRATIONS.length}): upgrade Backflow`,
      );
    }
  } catch (error) {
    await connection.end();
    throw error;
  }
  return new PgReader(connection, location.schema);
}

class PgReader implements StateReader {
  constructor(
    private readonly connection: { query: Query; end: () => Promise<void> },
    private readonly schema: string,
  ) {}

  async liveLocks(): Promise<string[]> {
    // A holder's connection holds the sync's advisory lock while it lives (src/state/pg/locks.ts):
    // a lock row whose connection still exists is a run that may still commit, even a paused one.
    const rows = (
      await this.connection.query(
        `select sync, pid, host, acquired_at, heartbeat_at from ${quoteIdent(this.schema)}.locks l
         where exists (select 1 from pg_stat_activity a where a.pid = l.backend_pid) order by sync`,
      )
    ).rows as (LockHolder & { sync: string })[];
    return rows.map((holder) => `sync "${holder.sync}": ${describeHolder(holder)}`);
  }

  async *batches(table: CopiedTable): AsyncIterable<unknown[][]> {
    const columns = COPIED_COLUMNS[table].map(quoteIdent).join(', ');
    const order = (COPY_ORDER[table] ?? ['seq']).map(quoteIdent).join(', ');
    await this.connection.query(`declare backflow_copy no scroll cursor for select ${columns} from ${quoteIdent(this.schema)}.${table} order by ${order}`);
    try {
      for (;;) {
        const { rows } = await this.connection.query(`fetch forward ${COPY_BATCH_ROWS} from backflow_copy`, undefined, 'array');
        if (rows.length === 0) break;
        yield rows as unknown[][];
      }
    } finally {
      await this.connection.query('close backflow_copy').catch(() => undefined);
    }
  }

  async close(): Promise<void> {
    await this.connection.query('rollback').catch(() => undefined);
    await this.connection.end();
  }
}

/** The options of `state copy` that name the target, for its messages. */
const TARGET_SETTINGS: PgSettingNames = { url: '--to', schema: '--schema' };

export async function openPgWriter(location: PgLocation): Promise<StateWriter> {
  return new PgWriter(await connect(location, TARGET_SETTINGS), location.schema);
}

class PgWriter implements StateWriter {
  private begun = false;

  constructor(
    private readonly connection: { query: Query; end: () => Promise<void> },
    private readonly schema: string,
  ) {}

  private table(name: string): string {
    return `${quoteIdent(this.schema)}.${name}`;
  }

  async tablesWithRows(): Promise<string[]> {
    const present = new Set(
      (await this.connection.query('select table_name from information_schema.tables where table_schema = $1', [this.schema])).rows.map(
        (row: { table_name: string }) => row.table_name,
      ),
    );
    const withRows: string[] = [];
    for (const table of STATE_TABLES) {
      if (present.has(table) && (await this.connection.query(`select 1 from ${this.table(table)} limit 1`)).rowCount === 1) withRows.push(table);
    }
    return withRows;
  }

  async begin(): Promise<void> {
    await this.connection.query('begin');
    this.begun = true;
    // Held to the commit: no member writes the target between the emptiness check and the copy.
    await this.connection.query(`lock table ${STATE_TABLES.map((table) => this.table(table)).join(', ')} in exclusive mode`);
  }

  async insert(table: CopiedTable, rows: unknown[][]): Promise<void> {
    const columns = COPIED_COLUMNS[table];
    const values = rows.map((_, row) => `(${columns.map((__, column) => `$${row * columns.length + column + 1}`).join(', ')})`);
    await this.connection.query(`insert into ${this.table(table)} (${columns.map(quoteIdent).join(', ')}) values ${values.join(', ')}`, rows.flat());
  }

  async commit(): Promise<void> {
    // Runs keep their ids; the identity must then start past them, or the next run's id collides.
    await this.connection.query(`select setval(pg_get_serial_sequence($1, 'id'), max(id)) from ${this.table('runs')} having max(id) is not null`, [
      this.table('runs'),
    ]);
    await this.connection.query('commit');
    this.begun = false;
  }

  async close(): Promise<void> {
    if (this.begun) await this.connection.query('rollback').catch(() => undefined);
    this.begun = false;
    await this.connection.end();
  }
}
