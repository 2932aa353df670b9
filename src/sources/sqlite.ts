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
 * a column declared JSON becomes its value, as JSON columns do in the other engines. Rows are read
 * as arrays and built here: cheaper than letting the driver name every value, and it is per row.
 */
function rowReader(statement: Database.Statement): (values: unknown[]) => Row {
  statement.safeIntegers(true);
  const columns = statement.columns();
  const names = columns.map((column) => column.name);
  const json = columns.map((column) => column.type?.toLowerCase() === 'json');
  statement.raw(true);
  return (values) => {
    const row: Row = {};
    for (let index = 0; index < names.length; index++) {
      const value = values[index];
      row[names[index]] = typeof value === 'bigint' ? exactInteger(value) : typeof value === 'string' && json[index] ? parseJson(value) : value;
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
        // One read transaction per read, begun by reading the schema: a table changed since this
        // connection last looked is seen now, and cannot change before the read ends. Without it the
        // statement's column names could be the stale ones while its values follow the new layout.
        db.exec('begin');
        try {
          db.prepare('select count(*) from sqlite_schema').get();
          const statement = db.prepare(sql);
          const plain = rowReader(statement);
          let batch: Row[] = [];
          for (const values of statement.iterate(cursorParams(sql, request)) as Iterable<unknown[]>) {
            batch.push(plain(values));
            if (batch.length >= request.batchSize) {
              yield batch;
              batch = [];
            }
          }
          if (batch.length > 0) yield batch;
        } finally {
          db.exec('rollback');
        }
      },
      async columns(request) {
        const sql = emptyQuery(incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor));
        db.prepare('select count(*) from sqlite_schema').get(); // see the current schema, as read() does
        return db
          .prepare(sql)
          .columns()
          .map((column) => column.name);
      },
      async close() {
        db.close();
      },
    };
  },
};
