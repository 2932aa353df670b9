// MySQL / MariaDB source: one query streams its rows inside a read-only transaction; the connection
// pauses while the engine works through a batch (backpressure), so memory stays at about two batches.
import type { Connection, TypeCast } from 'mysql2';
import type { Connection as PromiseConnection } from 'mysql2/promise';
import { z } from 'zod';
import type { PushdownSession, PushdownSpec, ReadRequest, Row, SourceReader, SourceType } from './contract.js';
import { bareQuery, emptyQuery, fetchedRows, hashedColumns, incrementalQuery, positionalCursor, quoteBacktick } from './sql.js';
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

/** Ends a connection: politely when its last query finished, else by dropping it (rows may still be in flight). */
async function release(connection: Connection, finished: boolean): Promise<void> {
  if (!finished) return connection.destroy();
  await connection
    .promise()
    .end()
    .catch(() => connection.destroy());
}

/**
 * The text every hashed value is hashed as: each column as its length in bytes, a colon and its
 * bytes, or `N` for NULL, one after the other. Each part says where it ends, so values never run
 * together and NULL is never the empty text; the bytes are the text the read receives (cast as
 * binary, so columns of different collations join without a collation clash). 64 bits of its md5,
 * as text, are what pass 1 carries per row.
 */
function rowHash(columns: string[]): string {
  const parts = columns.map((name) => {
    const bytes = `cast(backflow_rows.${quoteBacktick(name)} as binary)`;
    return `ifnull(concat(length(${bytes}), ':', ${bytes}), 'N')`;
  });
  return `left(md5(concat(${parts.join(', ')})), 16)`;
}

/** Opens a read-only transaction whose snapshot is taken at once (not at its first read). */
async function snapshotConnection(config: Settings): Promise<Connection> {
  const connection = await connect(config);
  try {
    await connection.promise().query('start transaction with consistent snapshot, read only');
  } catch (error) {
    connection.destroy();
    throw error;
  }
  return connection;
}

/**
 * The two passes of a pushdown read. MySQL runs one query at a time on a connection and shares no
 * snapshot between connections, so pass 1 streams on one connection while pass 2 fetches on a
 * second, each in a read-only transaction with a consistent snapshot; the second snapshot is taken
 * right after the first, before pass 1 reads a row. A row committed between the two snapshots is
 * fetched as the second sees it, with its hash computed again there, so what is compared and kept
 * always belongs to the row that was read; a row deleted in between is removed, one added waits for
 * the next run.
 */
async function pushdownSession(config: Settings, request: ReadRequest, spec: PushdownSpec, connections: Set<Connection>): Promise<PushdownSession> {
  const opened: Connection[] = [];
  let streaming = false;
  const closeAll = async () => {
    for (const connection of opened) connections.delete(connection);
    await Promise.all(opened.map((connection, index) => release(connection, index > 0 || !streaming)));
  };
  try {
    for (let index = 0; index < 2; index++) {
      opened.push(await snapshotConnection(config));
      connections.add(opened[index]);
    }
    const [reader, fetcher] = opened.map((connection) => connection.promise());
    const { text, values } = await statement(reader, bareQuery(request.query ?? ''), request);
    const [, fields] = await reader.query(emptyQuery(text), values);
    const byName = new Map(fields.map((field) => [field.name, field]));
    const hashed = hashedColumns(spec, new Set(byName.keys()));
    const [[{ version }]] = (await reader.query('select version() as version')) as unknown as [[{ version: string }]];
    const key = `backflow_rows.${quoteBacktick(spec.primaryKey)}`;
    const source = `(${text}\n) as backflow_rows`;
    // A column's type as the protocol describes it: type, flags (UNSIGNED among them), length, scale, character set.
    const typeOf = (name: string) => {
      const field = byName.get(name)!;
      return `${field.columnType}/${field.flags}/${field.columnLength}/${field.decimals}/${field.characterSet}`;
    };
    return {
      columns: [...byName.keys()],
      signature: `mysql ${version}: ${hashed.map((name) => `${name} ${typeOf(name)}`).join(', ')}`,
      async *keyHashes(batchSize) {
        const sql = `select ${key}, cast(${key} as char), ${rowHash(hashed)} from ${source}`;
        streaming = true;
        const rows = opened[0].query({ sql, values, rowsAsArray: true }).stream({ highWaterMark: batchSize });
        let batch = { keys: [] as unknown[], keyTexts: [] as string[], hashes: [] as string[] };
        for await (const [keyValue, keyText, hash] of rows as AsyncIterable<[unknown, string | null, string]>) {
          batch.keys.push(keyValue);
          batch.keyTexts.push(keyText ?? '');
          batch.hashes.push(hash);
          if (batch.keys.length >= batchSize) {
            yield batch;
            batch = { keys: [], keyTexts: [], hashes: [] };
          }
        }
        streaming = false;
        if (batch.keys.length > 0) yield batch;
      },
      async rowsFor(keyTexts) {
        // The keys as text: MySQL converts them to the key's type, so a query over a table looks them up in its index.
        const [result, described] = await fetcher.query({
          sql: `select backflow_rows.*, cast(${key} as char), ${rowHash(hashed)} from ${source} where ${key} in (?)`,
          values: [...values, keyTexts],
          rowsAsArray: true,
        });
        const names = described.slice(0, -2).map((field) => field.name);
        const wanted = new Set(keyTexts);
        return fetchedRows(result as unknown as unknown[][], names, wanted);
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

export const mysqlSource: SourceType<typeof settings> = {
  type: 'mysql',
  title: 'MySQL or MariaDB (streamed, read-only transaction)',
  settings,
  needsQuery: true,
  pushdown: true,
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
          await release(connection, finished);
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
      pushdown: (request, spec) => pushdownSession(config, request, spec, connections),
      async close() {
        for (const connection of connections) connection.destroy();
        connections.clear();
      },
    };
  },
};
