// SQLite source: a database file opened read-only; rows stream from a statement iterator.
import Database from 'better-sqlite3';
import path from 'node:path';
import { z } from 'zod';
import type { ReadRequest, Row, SourceReader, SourceType } from './contract.js';
import { bindsCursor, emptyQuery, incrementalQuery } from './sql.js';
import { exactInteger, parseJson } from './values.js';

const settings = z.strictObject({
  path: z.string().min(1).describe('Path of the SQLite database file, relative to the config file.'),
});

function cursorParams(statementSql: string, request: ReadRequest): Record<string, unknown> {
  return bindsCursor(statementSql) ? { cursor: request.cursor ?? null } : {};
}

/**
 * Integers are read as bigints (so none loses precision) and made plain by the shared rule; text in
 * a column declared JSON becomes its value, as JSON columns do in the other engines.
 */
function rowReader(statement: Database.Statement): (row: Row) => Row {
  statement.safeIntegers(true);
  const json = new Set(statement.columns().filter((column) => column.type?.toLowerCase() === 'json').map((column) => column.name));
  return (row) => {
    for (const [name, value] of Object.entries(row)) {
      if (typeof value === 'bigint') row[name] = exactInteger(value);
      else if (typeof value === 'string' && json.has(name)) row[name] = parseJson(value);
    }
    return row;
  };
}

export const sqliteSource: SourceType<typeof settings> = {
  type: 'sqlite',
  title: 'SQLite database file (opened read-only)',
  settings,
  needsQuery: true,
  secrets: [],
  async open(config, { configDir }): Promise<SourceReader> {
    const file = path.resolve(configDir, config.path);
    const db = new Database(file, { readonly: true, fileMustExist: true });
    db.pragma('query_only = true');
    return {
      async *read(request) {
        const sql = incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor);
        const statement = db.prepare(sql);
        const plain = rowReader(statement);
        let batch: Row[] = [];
        for (const row of statement.iterate(cursorParams(sql, request)) as Iterable<Row>) {
          batch.push(plain(row));
          if (batch.length >= request.batchSize) {
            yield batch;
            batch = [];
          }
        }
        if (batch.length > 0) yield batch;
      },
      async columns(request) {
        const sql = emptyQuery(incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor));
        return db.prepare(sql).columns().map((column) => column.name);
      },
      async close() {
        db.close();
      },
    };
  },
};
