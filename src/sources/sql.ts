// SQL helpers shared by the SQL sources: how a sync's query is turned into the statement that runs.

/** True when the user's query binds `:cursor` itself (`::cursor` casts do not count). */
export function bindsCursor(query: string): boolean {
  return /(?<!:):cursor\b/.test(query);
}

/** The query without trailing semicolons and whitespace, so it can be wrapped as a subquery. */
export function bareQuery(query: string): string {
  return query.trim().replace(/;+\s*$/, '');
}

/** Quotes an identifier for PostgreSQL, SQLite and DuckDB (double quotes, doubled inside). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The statement to run for a read, still written with `:cursor`. A query that names `:cursor` runs
 * as written; otherwise, once a cursor exists, Backflow filters the query's rows past it.
 */
export function incrementalQuery(
  query: string,
  cursorColumn: string | undefined,
  cursor: unknown,
  quote: (name: string) => string = quoteIdent,
): string {
  const bare = bareQuery(query);
  if (bindsCursor(bare) || !cursorColumn || cursor === null || cursor === undefined) return bare;
  return `select * from (${bare}) as backflow_source where ${quote(cursorColumn)} > :cursor`;
}

/** The statement that returns the query's columns without reading rows. */
export function emptyQuery(query: string): string {
  return `select * from (${bareQuery(query)}) as backflow_source limit 0`;
}
