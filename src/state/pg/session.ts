// One connection to a PostgreSQL state, in the state's worker thread (src/state/pg/worker.ts): it
// opens and migrates the schema, and runs one operation at a time (a transaction never interleaves
// with a heartbeat). A connection that dies is replaced by the next operation; the locks it held are
// gone with it (PostgreSQL released its advisory locks), which src/state/pg/locks.ts reports.
import pg from 'pg';
import { StateError } from '../../errors.js';
import { PG_MIGRATIONS } from './migrations.js';
import { describePgLocation, describePgUrl, explainPgError, quoteIdent, type PgLocation } from './connection.js';

export interface SessionOptions extends PgLocation {
  /** Never create or change the schema: an absent one is read as empty (tables in the session's temp schema). */
  readonly: boolean;
}

const APP = 'backflow';

// Backflow's own values are text, integers and JSON: keep bigint counts as numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export type Query = (text: string, values?: unknown[]) => Promise<pg.QueryResult>;

export class Session {
  private client?: pg.Client;
  private queue: Promise<unknown> = Promise.resolve();
  /** Called when the connection dies (the server ended it, or the network), once per connection. */
  onConnectionLost?: (why: string) => void;
  readonly display: string;

  constructor(readonly options: SessionOptions) {
    this.display = describePgLocation(options);
  }

  /** Runs `work` alone on the connection, turning the server's refusals into messages. */
  exclusive<T>(work: (query: Query) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const client = await this.connected();
      try {
        return await work((text, values) => client.query(text, values));
      } catch (error) {
        throw explainPgError(error, this.options);
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** `work` in one transaction (rolled back if it throws). */
  transaction<T>(work: (query: Query) => Promise<T>): Promise<T> {
    return this.exclusive(async (query) => {
      await query('begin');
      try {
        const result = await work(query);
        await query('commit');
        return result;
      } catch (error) {
        await query('rollback').catch(() => undefined);
        throw error;
      }
    });
  }

  private async connected(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({ connectionString: this.options.url, application_name: APP, connectionTimeoutMillis: 10_000 });
    let lost = false;
    const loseOnce = (why: string) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      this.onConnectionLost?.(why);
    };
    client.on('error', (error) => loseOnce(explainPgError(error, this.options).message));
    client.on('end', () => loseOnce(`the connection to the state database ${this.display} ended`));
    try {
      await client.connect();
      await this.useSchema(client);
    } catch (error) {
      lost = true;
      await endQuietly(client);
      throw explainPgError(error, this.options);
    }
    this.client = client;
    return client;
  }

  /** Points the connection at the schema, creating or migrating it (one member at a time). */
  private async useSchema(client: pg.Client): Promise<void> {
    const schema = quoteIdent(this.options.schema);
    if (this.options.readonly && (await this.tablesIn(client)).length === 0) {
      // Reading must not create anything: an absent state (no schema, or one created empty by hand)
      // is read as an empty one, made in temp tables.
      await client.query('set search_path = pg_temp');
      await migrate(client, 0);
      return;
    }
    await client.query('begin');
    try {
      // Several members starting at once: one migrates, the others wait for it here.
      await client.query(`select pg_advisory_xact_lock(hashtext('backflow.migrate'), hashtext($1))`, [this.options.schema]);
      await client.query(`create schema if not exists ${schema}`);
      await client.query(`set local search_path = ${schema}`);
      const version = await this.versionOf(client);
      if (version < PG_MIGRATIONS.length) {
        if (this.options.readonly && version > 0) throw new StateError(`the state in ${this.display} has schema ${version}; run a sync to migrate it`);
        await migrate(client, version);
      }
      await client.query('commit');
    } catch (error) {
      await client.query('rollback').catch(() => undefined);
      throw error;
    }
    await client.query(`set search_path = ${schema}`);
  }

  /** The tables in the state's schema (none when it does not exist). */
  private async tablesIn(client: pg.Client): Promise<string[]> {
    const result = await client.query('select table_name from information_schema.tables where table_schema = $1 order by table_name', [this.options.schema]);
    return result.rows.map((row: { table_name: string }) => row.table_name);
  }

  /** The version in meta; refuses a schema that holds something else, or a newer Backflow's state. */
  private async versionOf(client: pg.Client): Promise<number> {
    const tables = await this.tablesIn(client);
    if (tables.length === 0) return 0;
    if (!tables.includes('meta')) {
      const named = tables.slice(0, 3).join(', ') + (tables.length > 3 ? ', …' : '');
      throw new StateError(
        `schema "${this.options.schema}" in ${describePgUrl(this.options.url)} holds tables that are not Backflow's (${named}): set state.schema to a schema of Backflow's own (a new name is created on the first sync)`,
      );
    }
    const meta = (await client.query('select app, version from meta')).rows[0] as { app: string; version: number } | undefined;
    if (!meta || meta.app !== APP)
      throw new StateError(`schema "${this.options.schema}" in ${describePgUrl(this.options.url)} is not a Backflow state: set state.schema to another`);
    if (meta.version > PG_MIGRATIONS.length) {
      throw new StateError(
        `the state in ${this.display} was written by a newer Backflow (schema ${meta.version}, this one knows ${PG_MIGRATIONS.length}): upgrade Backflow`,
      );
    }
    return meta.version;
  }

  async close(): Promise<void> {
    await this.queue;
    const client = this.client;
    this.client = undefined;
    this.onConnectionLost = undefined;
    if (client) await endQuietly(client);
  }
}

/**
 * Ends a connection, never waiting long: node-postgres's end() can wait forever on a connection
 * the server has just ended (pg_terminate_backend), whose closing it already saw.
 */
export async function endQuietly(client: pg.Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)));
  await Promise.race([client.end().catch(() => undefined), gaveUp]);
  clearTimeout(timer);
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
}

async function migrate(client: pg.Client, from: number): Promise<void> {
  if (from === 0) await client.query('create table if not exists meta (app text not null, version integer not null)');
  for (let version = from; version < PG_MIGRATIONS.length; version++) await client.query(PG_MIGRATIONS[version]);
  await client.query('delete from meta');
  await client.query('insert into meta (app, version) values ($1, $2)', [APP, PG_MIGRATIONS.length]);
}
