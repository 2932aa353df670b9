// PostgreSQL source: rows stream with COPY (<query>) TO STDOUT inside a read-only transaction.
import pg from 'pg';
import { z } from 'zod';
import type { PushdownSession, PushdownSpec, ReadRequest, Row, SourceReader, SourceType } from './contract.js';
import { bareQuery, emptyQuery, fetchedRows, hashedColumns, incrementalQuery, positionalCursor, quoteIdent } from './sql.js';
import { exactInteger, withExactFraction } from './values.js';
import { CopyOut, CopyWaitTimeout } from './pg-copy-out.js';
import { copyFields, copyRowDecoder } from './pg-copy-text.js';

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
 * The lines of `copy (<text>) to stdout`, `batchSize` at a time, on a client inside a transaction.
 * The COPY is one statement for the whole read, which waits on the engine while it delivers
 * batches: the server's statement timeout would end long syncs. The timeout applies instead to
 * each wait for the next batch, as it applied to each FETCH of a cursor.
 */
async function* copyBatches(client: pg.Client, text: string, batchSize: number, config: z.infer<typeof settings>): AsyncGenerator<string[]> {
  await client.query('set local statement_timeout = 0');
  const copy = client.query(new CopyOut(`copy (${text}\n) to stdout`, batchSize * 2));
  const timeoutMs = config.statementTimeoutSeconds * 1000;
  for (;;) {
    let lines: string[] | undefined;
    try {
      lines = await copy.next(batchSize, timeoutMs);
    } catch (error) {
      if (!(error instanceof CopyWaitTimeout)) throw error;
      await cancelQuery(config, client);
      throw new Error(`the query was cancelled: its next ${batchSize} rows took longer than statementTimeoutSeconds (${config.statementTimeoutSeconds} s)`, {
        cause: error,
      });
    }
    if (!lines) break;
    // Rows read ahead are not delivered once the connection is gone: the read fails where a FETCH would.
    const lost = lostConnections.get(client);
    if (lost) throw lost;
    yield lines;
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
  for await (const lines of copyBatches(client, text, request.batchSize, config)) yield lines.map(decode);
  await client.query('commit');
}

/**
 * The text every hashed value is hashed as: the row of the hashed columns in PostgreSQL's record
 * text, which writes each value in its type's text (as the row protocol carries it), separated by
 * commas, with NULL as nothing and any value holding a comma, quote, parenthesis, backslash or
 * space (or empty) quoted: record_in reads it back into the same values, so two different rows
 * never share it. 64 bits of its md5, as text, are what pass 1 carries per row.
 */
const rowHash = (columns: string[]) => `left(md5(row(${columns.map((name) => `backflow_rows.${quoteIdent(name)}`).join(', ')})::text), 16)`;

/**
 * The two passes of a pushdown read, on two connections that read one snapshot: pass 1 streams
 * every row's key and hash with COPY on the first, inside a REPEATABLE READ READ ONLY transaction
 * that exports its snapshot; the second imports it (SET TRANSACTION SNAPSHOT), so the full rows
 * fetched there while pass 1 still streams are the very rows pass 1 hashed. A row changed or
 * deleted between the passes is read as it was at pass 1, and the next run finds the change.
 */
async function pushdownSession(config: z.infer<typeof settings>, request: ReadRequest, spec: PushdownSpec, clients: Set<pg.Client>): Promise<PushdownSession> {
  const opened: pg.Client[] = [];
  const closeAll = async () => {
    for (const client of opened) clients.delete(client);
    await Promise.all(opened.map((client) => client.end().catch(() => undefined)));
  };
  try {
    for (let index = 0; index < 2; index++) {
      opened.push(await connect(config));
      clients.add(opened[index]);
    }
    const [reader, fetcher] = opened;
    await reader.query('begin transaction isolation level repeatable read read only');
    const text = withCursorLiteral(reader, bareQuery(request.query ?? ''), request);
    // The describe is the transaction's first statement: it takes the snapshot both passes read.
    const described = await reader.query({ text: emptyQuery(text), queryMode: 'extended' } as pg.QueryConfig);
    const snapshot = (await reader.query<{ id: string }>('select pg_export_snapshot() as id')).rows[0].id;
    await fetcher.query('begin transaction isolation level repeatable read read only');
    await fetcher.query(`set transaction snapshot ${fetcher.escapeLiteral(snapshot)}`);

    const fields = new Map(described.fields.map((field) => [field.name, field]));
    const hashed = hashedColumns(spec, new Set(fields.keys()));
    const keyField = fields.get(spec.primaryKey)!;
    const typeNames = await fetcher.query<{ name: string }>('select format_type(oid, typmod) as name from unnest($1::oid[], $2::int[]) as t(oid, typmod)', [
      hashed.map((name) => fields.get(name)!.dataTypeID),
      hashed.map((name) => fields.get(name)!.dataTypeModifier),
    ]);
    const [version, keyType] = await Promise.all([
      fetcher.query<{ server_version: string }>('show server_version'),
      fetcher.query<{ name: string }>('select format_type($1, null) as name', [keyField.dataTypeID]),
    ]);
    const key = `backflow_rows.${quoteIdent(spec.primaryKey)}`;
    const source = `(${text}\n) as backflow_rows`;
    const parseKey = valueTypes.getTypeParser(keyField.dataTypeID, 'text') as (text: string) => unknown;
    return {
      columns: [...fields.keys()],
      signature: `postgres ${version.rows[0].server_version}: ${hashed.map((name, index) => `${name} ${typeNames.rows[index].name}`).join(', ')}`,
      async *keyHashes(batchSize) {
        try {
          for await (const lines of copyBatches(reader, `select ${key}::text, ${rowHash(hashed)} from ${source}`, batchSize, config)) {
            const batch = { keys: [] as unknown[], keyTexts: [] as string[], hashes: [] as string[] };
            for (const line of lines) {
              const [keyText, hash] = copyFields(line.slice(0, -1)) as [string | null, string];
              batch.keys.push(keyText === null ? null : parseKey(keyText));
              batch.keyTexts.push(keyText ?? '');
              batch.hashes.push(hash);
            }
            yield batch;
          }
        } catch (error) {
          throw readFailure(reader, error);
        }
      },
      async rowsFor(keyTexts) {
        // The keys in the key's own type, so a query over a table looks them up in its index.
        let result: pg.QueryArrayResult;
        try {
          result = await fetcher.query({
            text: `select backflow_rows.*, ${key}::text, ${rowHash(hashed)} from ${source} where ${key} = any($1::${keyType.rows[0].name}[])`,
            values: [keyTexts],
            rowMode: 'array',
          });
        } catch (error) {
          throw readFailure(fetcher, error);
        }
        const names = result.fields.slice(0, -2).map((field) => field.name);
        const wanted = new Set(keyTexts);
        return fetchedRows(result.rows as unknown[][], names, wanted);
      },
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

export const postgresSource: SourceType<typeof settings> = {
  type: 'postgres',
  title: 'PostgreSQL (COPY, read-only transaction)',
  settings,
  needsQuery: true,
  pushdown: true,
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
      pushdown: (request, spec) => pushdownSession(config, request, spec, clients),
      async close() {
        await Promise.all([...clients].map((client) => client.end().catch(() => undefined)));
      },
    };
  },
};
