// PostgreSQL source: rows stream through a server-side cursor inside a read-only transaction.
import pg from 'pg';
import Cursor from 'pg-cursor';
import { z } from 'zod';
import type { ReadRequest, Row, SourceReader, SourceType } from './contract.js';
import { emptyQuery, incrementalQuery, positionalCursor } from './sql.js';
import { exactInteger, withExactFraction } from './values.js';

const settings = z.strictObject({
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection URL')
    .describe('Connection URL, e.g. postgres://user:password@host:5432/db. Read it from an env var.'),
  statementTimeoutSeconds: z.number().int().positive().default(600).describe('Cancel a source query that runs longer than this.'),
});

// Timestamps without a time zone are read as UTC; bigints that fit a JS number become numbers
// (ids stay exact: larger ones stay strings); a date stays its calendar text (YYYY-MM-DD), never
// midnight in some time zone, and an interval its text, as in the other sources. numeric stays a
// string: use `transform: number`.
// A timestamp's microseconds are kept for the cursor (withExactFraction): a Date holds milliseconds.
const fractionOf = (text: string) => /:\d{2}\.(\d+)/.exec(text)?.[1] ?? '';
const timestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date | number;
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.TIMESTAMP) return (text: string) => withExactFraction(new Date(`${text.replace(' ', 'T')}Z`), fractionOf(text));
    if (oid === pg.types.builtins.TIMESTAMPTZ) {
      return (text: string) => {
        const value = timestamptz(text);
        return value instanceof Date ? withExactFraction(value, fractionOf(text)) : value;
      };
    }
    if (oid === pg.types.builtins.INT8) return exactInteger;
    if (oid === pg.types.builtins.DATE || oid === pg.types.builtins.INTERVAL) return (text: string) => text;
    return pg.types.getTypeParser(oid, format);
  },
};

/** Replaces `:cursor` with `$1` and returns the values to bind. */
function positional(sql: string, request: ReadRequest): { text: string; values: unknown[] } {
  const { text, occurrences } = positionalCursor(sql, '$1');
  if (occurrences === 0) return { text, values: [] };
  const cursor = request.cursor instanceof Date ? request.cursor.toISOString() : (request.cursor ?? null);
  return { text, values: [cursor] };
}

/** The error that broke each client's connection, reported by pg as an 'error' event. */
const lostConnections = new WeakMap<pg.Client, Error>();
/** Clients whose connection has closed (by us, or by the server). */
const endedClients = new WeakSet<pg.Client>();

async function connect(config: z.infer<typeof settings>): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: config.url,
    types,
    statement_timeout: config.statementTimeoutSeconds * 1000,
    application_name: 'backflow',
  });
  // A connection lost while no query runs (the server restarted or ended the session while the
  // engine delivered a batch) arrives as an 'error' event, which unheard would crash the process.
  // It is kept, and the read fails with it.
  client.on('error', (error) => {
    if (!lostConnections.has(client)) lostConnections.set(client, error);
  });
  client.on('end', () => endedClients.add(client));
  await client.connect();
  return client;
}

/**
 * The read's failure, said as the lost connection when that is what caused it: an 'error' event, or
 * a FATAL error from the server (it ends the session, e.g. an administrator terminating it).
 */
function readFailure(client: pg.Client, error: unknown): unknown {
  const lost = lostConnections.get(client) ?? ((error as { severity?: string }).severity === 'FATAL' ? (error as Error) : undefined);
  return lost ? new Error(`the connection to the server was lost during the read (${lost.message})`, { cause: lost }) : error;
}

/** Closes a cursor; a connection that is gone would never answer the close, so it is not waited for. */
async function closeCursor(client: pg.Client, cursor: Cursor): Promise<void> {
  if (lostConnections.has(client) || endedClients.has(client)) return;
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  await Promise.race([cursor.close().catch(() => undefined), ended]);
}

/** Streams a read's rows through a server-side cursor inside a read-only transaction. */
async function* readRows(client: pg.Client, request: ReadRequest): AsyncGenerator<Row[]> {
  await client.query('begin transaction isolation level repeatable read read only');
  const { text, values } = positional(incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor), request);
  const cursor = client.query(new Cursor<Row>(text, values));
  try {
    for (;;) {
      const rows = await cursor.read(request.batchSize);
      if (rows.length === 0) break;
      yield rows;
    }
  } finally {
    await closeCursor(client, cursor);
  }
  await client.query('commit');
}

export const postgresSource: SourceType<typeof settings> = {
  type: 'postgres',
  title: 'PostgreSQL (server-side cursor, read-only transaction)',
  settings,
  needsQuery: true,
  secrets: ['url'],
  async open(config): Promise<SourceReader> {
    const clients = new Set<pg.Client>();
    return {
      async *read(request) {
        const client = await connect(config);
        clients.add(client);
        try {
          yield* readRows(client, request);
        } catch (error) {
          throw readFailure(client, error);
        } finally {
          clients.delete(client);
          await client.end().catch(() => undefined);
        }
      },
      async columns(request) {
        const client = await connect(config);
        try {
          const { text, values } = positional(emptyQuery(incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor)), request);
          const result = await client.query(text, values);
          return result.fields.map((field) => field.name);
        } finally {
          await client.end();
        }
      },
      async close() {
        await Promise.all([...clients].map((client) => client.end().catch(() => undefined)));
      },
    };
  },
};
