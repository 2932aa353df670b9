// The DuckDB driver side of the duckdb source, loaded only when a duckdb source is opened (the native
// module takes a noticeable time to load, and most configs never need it).
import {
  DuckDBInstance,
  DuckDBTypeId,
  LIST,
  listValue,
  VARCHAR,
  JSDuckDBValueConverter,
  type DuckDBBlobValue,
  type DuckDBConnection,
  type DuckDBMapValue,
  type DuckDBResult,
  type DuckDBValue,
  type DuckDBValueConverter,
  type JS,
} from '@duckdb/node-api';
import fs from 'node:fs';
import path from 'node:path';
import type { PushdownSession, PushdownSpec, ReadRequest, Row, SourceReader } from './contract.js';
import type { DuckDBSettings } from './duckdb.js';
import { bareQuery, emptyQuery, hashedColumns, incrementalQuery, positionalCursor, quoteIdent } from './sql.js';
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

/**
 * Streams a result as rows of plain values, `batchSize` at a time. With `lastApart`, the last column
 * is not part of the row: each row's value of it goes to `lastApart` instead.
 */
async function* plainRows(result: DuckDBResult, batchSize: number, lastApart?: (value: DuckDBValue) => void): AsyncGenerator<Row[]> {
  // The result's column types, not the chunk's: only they keep the JSON alias of VARCHAR.
  const names = result.deduplicatedColumnNames();
  const types = result.columnTypes();
  const columns = lastApart ? names.length - 1 : names.length;
  let batch: Row[] = [];
  for await (const chunk of result) {
    if (lastApart) chunk.getColumnValues(columns).forEach(lastApart);
    for (let index = 0; index < chunk.rowCount; index++) {
      const row: Row = {};
      chunk.visitRowValues(index, (value, _, column) => {
        if (column < columns) row[names[column]] = plainValue(value, types[column], plainValue);
      });
      batch.push(row);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * The two passes of a pushdown read on one open database: a database file opened read-only cannot
 * be written by anyone while it is open, so both passes see the same data. Files read by the query
 * (Parquet, CSV) can change between the passes; the second pass hashes the rows it returns again,
 * so what is compared and stored always belongs to the row that was read.
 */
async function pushdownSession(
  session: { instance: DuckDBInstance; connection: DuckDBConnection },
  request: ReadRequest,
  spec: PushdownSpec,
  end: () => void,
): Promise<PushdownSession> {
  const { text, values } = statement(bareQuery(request.query ?? ''), request);
  // A second connection fetches the rows of changed keys while the first still streams pass 1.
  const fetcher = await session.instance.connect();
  const closeAll = () => {
    fetcher.closeSync();
    end();
  };
  try {
    const described = await session.connection.prepare(text);
    const types = new Map(Array.from({ length: described.columnCount }, (_, index) => [described.columnName(index), described.columnType(index).toString()]));
    const present = new Set(types.keys());
    const hashed = hashedColumns(spec, present);
    const version = (await session.connection.runAndReadAll('select version()')).getRows()[0][0];
    const key = quoteIdent(spec.primaryKey);
    // hash() of several values combines them in order, NULLs included: 64 bits per row, moved as a
    // number (text hashes cost three times as much to bring into JavaScript).
    const hash = `hash(${hashed.map(quoteIdent).join(', ')})`;
    const source = `(${text}
) as backflow_rows`;
    return {
      columns: [...present],
      signature: `duckdb ${String(version)}: ${hashed.map((name) => `${name} ${types.get(name)}`).join(', ')}`,
      async *keyHashes(batchSize) {
        const prepared = await session.connection.prepare(`select ${key}, cast(${key} as varchar), ${hash} from ${source}`);
        if (values.length > 0) prepared.bind(values);
        const result = await prepared.stream();
        const keyType = result.columnType(0);
        let batch = { keys: [] as unknown[], keyTexts: [] as string[], hashes: [] as string[] };
        for await (const chunk of result) {
          const [keys, keyTexts, hashes] = [0, 1, 2].map((column) => chunk.getColumnValues(column));
          for (let index = 0; index < chunk.rowCount; index++) {
            batch.keys.push(plainValue(keys[index], keyType, plainValue));
            batch.keyTexts.push(keyTexts[index] as string);
            batch.hashes.push((hashes[index] as bigint).toString(36));
          }
          if (batch.keys.length >= batchSize) {
            yield batch;
            batch = { keys: [], keyTexts: [], hashes: [] };
          }
        }
        if (batch.keys.length > 0) yield batch;
      },
      async rowsFor(keyTexts) {
        const list = `$${values.length + 1}`;
        const prepared = await fetcher.prepare(`select backflow_rows.*, ${hash} from ${source} where cast(${key} as varchar) in (select unnest(${list}))`);
        if (values.length > 0) prepared.bind(values);
        prepared.bindList(values.length + 1, listValue(keyTexts), LIST(VARCHAR));
        const result = await prepared.stream();
        const rows: Row[] = [];
        const hashes: string[] = [];
        // The hash is the last column: read apart from the row, which stays exactly what read() returns.
        for await (const batch of plainRows(result, 10_000, (value) => hashes.push((value as bigint).toString(36)))) rows.push(...batch);
        return { rows, hashes };
      },
      async close() {
        closeAll();
      },
    };
  } catch (error) {
    closeAll();
    throw error;
  }
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
        yield* plainRows(await prepared.stream(), request.batchSize);
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
    async pushdown(request, spec) {
      const session = await begin();
      return pushdownSession(session, request, spec, () => end(session));
    },
    async close() {
      for (const session of [...sessions]) end(session);
    },
  };
}
