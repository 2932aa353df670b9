// The DuckDB driver side of the duckdb source, loaded only when a duckdb source is opened (the native
// module takes a noticeable time to load, and most configs never need it).
import {
  DuckDBInstance,
  DuckDBTypeId,
  JSDuckDBValueConverter,
  type DuckDBBlobValue,
  type DuckDBConnection,
  type DuckDBMapValue,
  type DuckDBValue,
  type DuckDBValueConverter,
  type JS,
} from '@duckdb/node-api';
import fs from 'node:fs';
import path from 'node:path';
import type { ReadRequest, Row, SourceReader } from './contract.js';
import type { DuckDBSettings } from './duckdb.js';
import { emptyQuery, incrementalQuery, positionalCursor } from './sql.js';
import { exactInteger, parseJson, withExactFraction } from './values.js';

/**
 * DuckDB values as plain JS, by the same rules as the other sources: exact integers, DECIMAL as exact
 * text, DATE as YYYY-MM-DD, timestamps as Dates (UTC), JSON parsed, lists/structs/maps as arrays and
 * objects, BLOB as a Buffer, and TIME/INTERVAL/UUID as DuckDB prints them.
 */
const plainValue: DuckDBValueConverter<unknown> = (value, type, converter) => {
  if (value === null || value === undefined) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.BIGNUM:
      return exactInteger(value as bigint);
    case DuckDBTypeId.DECIMAL:
    case DuckDBTypeId.DATE:
    case DuckDBTypeId.TIME:
    case DuckDBTypeId.TIME_NS:
    case DuckDBTypeId.TIME_TZ:
    case DuckDBTypeId.INTERVAL:
    case DuckDBTypeId.UUID:
    case DuckDBTypeId.BIT:
      return String(value);
    case DuckDBTypeId.VARCHAR:
      return type.alias === 'JSON' ? parseJson(value as string) : value;
    case DuckDBTypeId.BLOB:
      return Buffer.from((value as DuckDBBlobValue).bytes);
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
    case DuckDBTypeId.TIMESTAMP_NS: {
      // The Date holds milliseconds; the cursor keeps DuckDB's micro- (or nano-) seconds beside it.
      const date = JSDuckDBValueConverter(value, type, converter as DuckDBValueConverter<JS>) as Date;
      const [units, digits] = 'nanos' in (value as object) ? [(value as { nanos: bigint }).nanos, 9] : [(value as { micros: bigint }).micros, 6];
      return units >= 0n ? withExactFraction(date, String(units % 10n ** BigInt(digits)).padStart(digits, '0')) : date;
    }
    case DuckDBTypeId.MAP: {
      const { keyType, valueType } = type;
      return Object.fromEntries(
        (value as DuckDBMapValue).entries.map((entry) => [String(converter(entry.key, keyType, converter)), converter(entry.value, valueType, converter)]),
      );
    }
    default:
      return JSDuckDBValueConverter(value, type, converter as DuckDBValueConverter<JS>);
  }
};

/** The statement for a read with `:cursor` as `$1`, and the value to bind (if it is used). */
function statement(sql: string, request: ReadRequest): { text: string; values: DuckDBValue[] } {
  const { text, occurrences } = positionalCursor(sql, '$1');
  // DuckDB casts the bound text to the column's type, so a stored ISO timestamp compares as one.
  return { text, values: occurrences > 0 ? [(request.cursor ?? null) as DuckDBValue] : [] };
}

export async function openDuckDB(config: DuckDBSettings, configDir: string): Promise<SourceReader> {
  const file = config.path ? path.resolve(configDir, config.path) : undefined;
  if (file && !fs.existsSync(file)) throw new Error(`DuckDB database file ${file} does not exist (path is relative to the config file)`);
  const options: Record<string, string> = {
    // Relative paths in read_parquet('users/*.parquet') or read_csv_auto('users.csv') resolve
    // against the config file's folder, as every other path in the config does.
    file_search_path: configDir,
    ...(file ? { access_mode: 'READ_ONLY' } : {}),
    ...(config.memoryLimit ? { memory_limit: config.memoryLimit } : {}),
  };
  const sessions = new Set<{ instance: DuckDBInstance; connection: DuckDBConnection }>();
  const end = (session: { instance: DuckDBInstance; connection: DuckDBConnection }) => {
    if (!sessions.delete(session)) return;
    session.connection.closeSync();
    session.instance.closeSync();
  };
  /** Opens the database for one read; `end` closes it (and releases the file) right after. */
  async function begin() {
    const instance = await DuckDBInstance.create(file ?? ':memory:', options);
    const session = { instance, connection: await instance.connect() };
    sessions.add(session);
    return session;
  }

  return {
    async *read(request) {
      const { text, values } = statement(incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor), request);
      const session = await begin();
      try {
        const prepared = await session.connection.prepare(text);
        if (values.length > 0) prepared.bind(values);
        const result = await prepared.stream();
        // The result's column types, not the chunk's: only they keep the JSON alias of VARCHAR.
        const names = result.deduplicatedColumnNames();
        const types = result.columnTypes();
        let batch: Row[] = [];
        for await (const chunk of result) {
          for (let index = 0; index < chunk.rowCount; index++) {
            const row: Row = {};
            chunk.visitRowValues(index, (value, _, column) => (row[names[column]] = plainValue(value, types[column], plainValue)));
            batch.push(row);
            if (batch.length >= request.batchSize) {
              yield batch;
              batch = [];
            }
          }
        }
        if (batch.length > 0) yield batch;
      } finally {
        end(session);
      }
    },
    async columns(request) {
      const { text, values } = statement(emptyQuery(incrementalQuery(request.query ?? '', request.cursorColumn, request.cursor)), request);
      const session = await begin();
      try {
        const prepared = await session.connection.prepare(text);
        if (values.length > 0) prepared.bind(values);
        return (await prepared.run()).columnNames();
      } finally {
        end(session);
      }
    },
    async close() {
      for (const session of [...sessions]) end(session);
    },
  };
}
