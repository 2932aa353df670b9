// A model's relation missing from the warehouse (the manifest is stale, or dbt never built it here):
// the source's own error, plus which model and relation the sync read and what to do.
import type { SyncConfig } from '../config/schema.js';
import { SourceError } from '../errors.js';

/**
 * How each engine says a relation (or its schema or database) is not there: SQLite, PostgreSQL
 * (relation/schema does not exist, or a manifest from another database: cross-database reference),
 * MySQL/MariaDB, DuckDB (catalog, schema or table does not exist).
 */
const MISSING_RELATION =
  /no such table|relation .* does not exist|schema .* does not exist|cross-database references are not implemented|table '.*' doesn't exist|unknown database|(?:catalog|schema|table) (?:with name )?.* does not exist/i;

export function explainModelError(sync: SyncConfig, error: unknown): unknown {
  const model = sync.dbtModel;
  if (!model || !(error instanceof Error) || !MISSING_RELATION.test(error.message)) return error;
  return new SourceError(
    `${error.message}. Sync "${sync.name}" reads dbt ${model.resourceType} ${model.qualifiedName} as ${model.relation} (from ${model.manifest}), ` +
      `and the warehouse has no such relation: build it (dbt build -s ${model.qualifiedName.split('.')[1]}) against this warehouse, ` +
      `or refresh the manifest (dbt parse) if the model moved`,
    { cause: error },
  );
}

/** The sync's rows, with a missing relation explained (see explainModelError). */
export async function* explainModelReads<T>(sync: SyncConfig, rows: AsyncIterable<T>): AsyncGenerator<T> {
  try {
    yield* rows;
  } catch (error) {
    throw explainModelError(sync, error);
  }
}
