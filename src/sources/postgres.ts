// PostgreSQL source: rows stream with COPY (<query>) TO STDOUT inside a read-only transaction.
import pg from 'pg';
import { z } from 'zod';
import type { ReadRequest, Row, SourceReader, SourceType } from './contract.js';
import { emptyQuery, incrementalQuery, positionalCursor } from './sql.js';
import { exactInteger, withExactFraction } from './values.js';
import { CopyOut, CopyWaitTimeout } from './pg-copy-out.js';
import { copyRowDecoder } from './pg-copy-text.js';

const settings = z.strictObject({
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection URL')
    .describe('Connection URL, e.g. postgres://user:password@host:5432/db. Read it from an env var.'),
  statementTimeoutSeconds: z.number().int().positive().default(600).describe('Cancel a read when its next batch of rows takes longer than this to arrive.'),
});

// Timestamps without a time zone are read as UTC; bigints that fit a JS number become numbers
// (ids stay exact: larger ones stay strings); a date stays its calendar text (YYYY-MM-DD), never
// midnight in some time zone, and an interval its text, as in the other sources. numeric stays a
// string: use `transform: number`.
// A timestamp's microseconds are kept for the cursor (withExactFraction): a Date holds milliseconds.
const fractionOf = (text: string) => /:\d{2}\.(\d+)/.exec(text)?.[1] ?? '';
const timestamptz = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ) as (text: string) => Date | number;
/** How a column's text becomes its value: for the describe's rows and, per column, for COPY's lines. */
export const valueTypes = {
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

async function connect(config: z.infer<typeof settings>): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: config.url,
    types: valueTypes,
    statement_timeout: config.statementTimeoutSeconds * 1000,
    application_name: 'backflow',
  });
  // A connection lost while no query runs (the server restarted or ended the session while the
  // engine delivered a batch) arrives as an 'error' event, which unheard would crash the process.
  // It is kept, and the read fails with it.
  client.on('error', (error) => {
    if (!lostConnections.has(client)) lostConnections.set(client, error);
  });
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

/**
 * The read's statement with `:cursor` written as an SQL literal, since COPY takes no bound
 * parameters. An untyped literal takes its type from where it stands, as the untyped `$1` does.
 */
function withCursorLiteral(client: pg.Client, sql: string, request: ReadRequest): string {
  const cursor = request.cursor instanceof Date ? request.cursor.toISOString() : request.cursor;
  const literal = cursor === null || cursor === undefined ? 'null' : client.escapeLiteral(String(cursor));
  return positionalCursor(sql, literal).text;
}

/** Cancels the query a client runs, from a connection of its own (as psql's Ctrl-C does). */
async function cancelQuery(config: z.infer<typeof settings>, reading: pg.Client): Promise<void> {
  const canceller = await connect(config);
  try {
    await canceller.query('select pg_cancel_backend($1)', [(reading as pg.Client & { processID: number }).processID]);
  } finally {
    await canceller.end().catch(() => undefined);
  }
}

/**
 * Streams a read's rows with COPY (text format) inside a read-only transaction: 1,000,000 rows in
 * about a third of the time a server-side cursor takes (see BENCHMARKS.md, section 1b).
 */
async function* readRows(client: pg.Client, request: ReadRequest, config: z.infer<typeof settings>): AsyncGenerator<Row[]> {
  await client.query('begin transaction isolation level repeatable read read only');
  const text = withCursorLiteral(client, incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor), request);
  // The columns and their types, from a statement that reads no rows; it also takes the snapshot
  // the COPY reads. The extended protocol refuses a second statement, so the COPY holds one query.
  const described = await client.query({ text: emptyQuery(text), queryMode: 'extended' } as pg.QueryConfig);
  const decode = copyRowDecoder(described.fields.map((field) => ({ name: field.name, parse: valueTypes.getTypeParser(field.dataTypeID, 'text') })));
  // The COPY is one statement for the whole read, which waits on the engine while it delivers
  // batches: the server's statement timeout would end long syncs. The timeout applies instead to
  // each wait for the next batch, as it applied to each FETCH of a cursor.
  await client.query('set local statement_timeout = 0');
  const copy = client.query(new CopyOut(`copy (${text}\n) to stdout`, request.batchSize * 2));
  const timeoutMs = config.statementTimeoutSeconds * 1000;
  for (;;) {
    let lines: string[] | undefined;
    try {
      lines = await copy.next(request.batchSize, timeoutMs);
    } catch (error) {
      if (!(error instanceof CopyWaitTimeout)) throw error;
      await cancelQuery(config, client);
      throw new Error(
        `the query was cancelled: its next ${request.batchSize} rows took longer than statementTimeoutSeconds (${config.statementTimeoutSeconds} s)`,
        { cause: error },
      );
    }
    if (!lines) break;
    // Rows read ahead are not delivered once the connection is gone: the read fails where a FETCH would.
    const lost = lostConnections.get(client);
    if (lost) throw lost;
    yield lines.map(decode);
  }
  await client.query('commit');
}

export const postgresSource: SourceType<typeof settings> = {
  type: 'postgres',
  title: 'PostgreSQL (COPY, read-only transaction)',
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
          yield* readRows(client, request, config);
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
