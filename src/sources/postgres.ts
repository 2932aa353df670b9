// PostgreSQL source: rows stream through a server-side cursor inside a read-only transaction.
import pg from 'pg';
import Cursor from 'pg-cursor';
import { z } from 'zod';
import type { ReadRequest, Row, SourceReader, SourceType } from './contract.js';
import { emptyQuery, incrementalQuery, positionalCursor } from './sql.js';
import { exactInteger } from './values.js';

const settings = z.strictObject({
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// connection URL')
    .describe('Connection URL, e.g. postgres://user:password@host:5432/db. Read it from an env var.'),
  statementTimeoutSeconds: z
    .number()
    .int()
    .positive()
    .default(600)
    .describe('Cancel a source query that runs longer than this.'),
});

// Timestamps without a time zone are read as UTC; bigints that fit a JS number become numbers
// (ids stay exact: larger ones stay strings); a date stays its calendar text (YYYY-MM-DD), never
// midnight in some time zone, and an interval its text, as in the other sources. numeric stays a
// string: use `transform: number`.
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.TIMESTAMP) return (text: string) => new Date(`${text.replace(' ', 'T')}Z`);
    if (oid === pg.types.builtins.INT8) return exactInteger;
    if (oid === pg.types.builtins.DATE || oid === pg.types.builtins.INTERVAL) return (text: string) => text;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

/** Replaces `:cursor` with `$1` and returns the values to bind. */
function positional(sql: string, request: ReadRequest): { text: string; values: unknown[] } {
  const { text, occurrences } = positionalCursor(sql, '$1');
  if (occurrences === 0) return { text, values: [] };
  const cursor = request.cursor instanceof Date ? request.cursor.toISOString() : (request.cursor ?? null);
  return { text, values: [cursor] };
}

async function connect(config: z.infer<typeof settings>): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: config.url,
    types,
    statement_timeout: config.statementTimeoutSeconds * 1000,
    application_name: 'backflow',
  });
  await client.connect();
  return client;
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
            await cursor.close().catch(() => undefined);
          }
          await client.query('commit');
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
