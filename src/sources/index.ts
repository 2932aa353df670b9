// The registry of source types, keyed by the `type` used in the config.
import { BackflowError, SourceError } from '../errors.js';
import type { SourceReader, SourceType } from './contract.js';
import { duckdbSource } from './duckdb.js';
import { mysqlSource } from './mysql.js';
import { postgresSource } from './postgres.js';
import { segmentSource } from './segment.js';
import { sqliteSource } from './sqlite.js';

export const sourceTypes = {
  sqlite: sqliteSource,
  postgres: postgresSource,
  mysql: mysqlSource,
  duckdb: duckdbSource,
  segment: segmentSource,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry of differently typed sources
} as const satisfies Record<string, SourceType<any>>;

export function sourceTypeFor(type: string): SourceType {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above
  const source = (sourceTypes as Record<string, SourceType<any>>)[type];
  if (!source) throw new Error(`unknown source type "${type}"`);
  return source;
}

/**
 * An error from a source is a SourceError prefixed with the source it came from: `source "warehouse"
 * (mysql): …`. One already said for the user keeps its class (the segment source's event store
 * refusing a file is a state error, naming the file).
 */
function labelled(error: unknown, label: string): BackflowError {
  if (error instanceof BackflowError) return error;
  return new SourceError(`${label}: ${(error as Error).message ?? String(error)}`, { cause: error });
}

/** A pushdown read whose every failure names the source, as openSource's reads do. */
function labelledPushdown(open: NonNullable<SourceReader['pushdown']>, label: string): NonNullable<SourceReader['pushdown']> {
  const named = <T>(promise: Promise<T>) => promise.catch((error) => Promise.reject(labelled(error, label)));
  return async (request, spec) => {
    const session = await named(open(request, spec));
    return {
      signature: session.signature,
      columns: session.columns,
      async *keyHashes(batchSize) {
        try {
          yield* session.keyHashes(batchSize);
        } catch (error) {
          throw labelled(error, label);
        }
      },
      rowsFor: (keyTexts) => named(session.rowsFor(keyTexts)),
      close: () => session.close(),
    };
  };
}

/**
 * Opens a source so that every failure (connecting, the query, a row) names the source, whatever
 * the driver's own message says.
 */
export async function openSource(name: string, config: { type: string }, context: { configDir: string }): Promise<SourceReader> {
  const { type, ...settings } = config;
  const sourceType = sourceTypeFor(type);
  const label = `source "${name}" (${sourceType.type})`;
  let reader: SourceReader;
  try {
    reader = await sourceType.open(sourceType.settings.parse(settings), context);
  } catch (error) {
    throw labelled(error, label);
  }
  return {
    async *read(request) {
      try {
        yield* reader.read(request);
      } catch (error) {
        throw labelled(error, label);
      }
    },
    columns: (request) => reader.columns(request).catch((error) => Promise.reject(labelled(error, label))),
    ...(reader.pushdown ? { pushdown: labelledPushdown(reader.pushdown.bind(reader), label) } : {}),
    close: () => reader.close(),
  };
}
