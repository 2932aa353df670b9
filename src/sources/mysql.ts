// MySQL / MariaDB source: one query streams its rows inside a read-only transaction; the connection
// pauses while the engine works through a batch (backpressure), so memory stays at about two batches.
import type { Connection, TypeCast } from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { z } from 'zod';
import type { ReadRequest, Row, SourceReader, SourceType } from './contract.js';
import { emptyQuery, incrementalQuery, positionalCursor, quoteBacktick } from './sql.js';
import { withExactFraction } from './values.js';

const settings = z.strictObject({
  url: z
    .string()
    .regex(/^(mysql|mariadb):\/\//, 'must be a mysql:// or mariadb:// connection URL')
    .describe('Connection URL, e.g. mysql://user:password@host:3306/db. Read it from an env var.'),
  netWriteTimeoutSeconds: z
    .number()
    .int()
    .positive()
    .default(3600)
    .describe(
      "How long the server keeps a read open while Backflow is busy delivering a batch (the session's net_write_timeout). Raise it for very slow destinations.",
    ),
});

type Settings = z.infer<typeof settings>;

/** Column types (protocol numbers) whose values arrive as Dates: TIMESTAMP and DATETIME. */
const DATE_TIME_TYPES = new Set([7, 12]);

/** The text `cursorValue()` stores for a Date: ISO 8601 in UTC. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * DATETIME and TIMESTAMP as the Dates mysql2 makes (UTC), with the source's microseconds kept for the
 * cursor (withExactFraction): a Date holds milliseconds. A zero date stays an invalid Date, as in mysql2.
 */
const exactDateTimes: TypeCast = (field, next) => {
  if (field.type !== 'DATETIME' && field.type !== 'TIMESTAMP') return next();
  const text = field.string('ascii');
  if (text === null) return null;
  return withExactFraction(new Date(`${text.replace(' ', 'T')}Z`), /\.(\d+)$/.exec(text)?.[1] ?? '');
};

async function connect(config: Settings): Promise<Connection> {
  // Loaded on first use: configs without a MySQL source never pay for the driver.
  const { default: mysql } = await import('mysql2');
  const connection = mysql.createConnection({
    uri: config.url,
    // DATETIME and TIMESTAMP are read (and compared, see `set time_zone`) as UTC; a DATE stays text.
    timezone: 'Z',
    dateStrings: ['DATE'],
    // BIGINT: a number when exact, else its decimal text; DECIMAL stays exact text.
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: false,
    connectTimeout: 10_000,
    typeCast: exactDateTimes,
  });
  // A fatal error while no query runs (a server restart) surfaces on the next query instead of
  // crashing the process as an unhandled 'error' event.
  connection.on('error', () => undefined);
  try {
    const session = connection.promise();
    await session.connect();
    await session.query("set time_zone = '+00:00'");
    await session.query('set session net_write_timeout = ?', [config.netWriteTimeoutSeconds]);
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return connection;
}

/**
 * The value bound for `:cursor`. A stored cursor from a DATETIME/TIMESTAMP column is ISO text with
 * `Z`, which MySQL would only half-parse (with a warning); it is bound as `YYYY-MM-DD HH:MM:SS.ffffff`
 * (UTC, as the session's time zone), every digit kept. Which applies is read from the query's own column types, so
 * ISO text kept in a VARCHAR column is still compared as text.
 */
async function cursorParam(session: PromiseConnection, text: string, occurrences: number, request: ReadRequest): Promise<unknown> {
  const cursor = request.cursor ?? null;
  if (typeof cursor !== 'string' || !request.cursorColumn || !ISO_INSTANT.test(cursor)) return cursor;
  const [, fields] = await session.query(emptyQuery(text), Array(occurrences).fill(null));
  const field = fields.find((candidate) => candidate.name === request.cursorColumn);
  return field?.columnType !== undefined && DATE_TIME_TYPES.has(field.columnType) ? cursor.replace('T', ' ').replace('Z', '') : cursor;
}

/** The statement for a read with `:cursor` as `?` placeholders, and one value for each. */
async function statement(session: PromiseConnection, sql: string, request: ReadRequest): Promise<{ text: string; values: unknown[] }> {
  const { text, occurrences } = positionalCursor(sql, '?');
  if (occurrences === 0) return { text, values: [] };
  const value = await cursorParam(session, text, occurrences, request);
  return { text, values: Array(occurrences).fill(value) };
}

export const mysqlSource: SourceType<typeof settings> = {
  type: 'mysql',
  title: 'MySQL or MariaDB (streamed, read-only transaction)',
  settings,
  needsQuery: true,
  secrets: ['url'],
  async open(config): Promise<SourceReader> {
    const connections = new Set<Connection>();
    return {
      async *read(request) {
        const connection = await connect(config);
        connections.add(connection);
        let finished = false;
        try {
          const session = connection.promise();
          await session.query('start transaction read only');
          const sql = incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor, quoteBacktick);
          const { text, values } = await statement(session, sql, request);
          const rows = connection.query(text, values).stream({ highWaterMark: request.batchSize });
          let batch: Row[] = [];
          for await (const row of rows as AsyncIterable<Row>) {
            batch.push(row);
            if (batch.length >= request.batchSize) {
              yield batch;
              batch = [];
            }
          }
          if (batch.length > 0) yield batch;
          await session.query('commit');
          finished = true;
        } finally {
          connections.delete(connection);
          // A read left early still has rows in flight: only dropping the connection stops them.
          if (finished)
            await connection
              .promise()
              .end()
              .catch(() => connection.destroy());
          else connection.destroy();
        }
      },
      async columns(request) {
        const connection = await connect(config);
        try {
          const session = connection.promise();
          const sql = emptyQuery(incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor, quoteBacktick));
          const { text, values } = await statement(session, sql, request);
          const [, fields] = await session.query(text, values);
          return fields.map((field) => field.name);
        } finally {
          connection.destroy();
        }
      },
      async close() {
        for (const connection of connections) connection.destroy();
        connections.clear();
      },
    };
  },
};
