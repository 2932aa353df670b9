// SQL helpers shared by the SQL sources: how a sync's query is turned into the statement that runs.

/** True when the user's query binds `:cursor` itself (`::cursor` casts do not count). */
export function bindsCursor(query: string): boolean {
  return /(?<!:):cursor\b/.test(query);
}

/**
 * Rewrites every `:cursor` into the driver's positional placeholder (`$1` for PostgreSQL and DuckDB,
 * `?` for MySQL) and says how many there were, for drivers that need one value per placeholder.
 */
export function positionalCursor(query: string, placeholder: string): { text: string; occurrences: number } {
  let occurrences = 0;
  const text = query.replace(/(?<!:):cursor\b/g, () => {
    occurrences++;
    return placeholder;
  });
  return { text, occurrences };
}

/** The query without trailing semicolons and whitespace, so it can be wrapped as a subquery. */
export function bareQuery(query: string): string {
  return query.trim().replace(/;+\s*$/, '');
}

/** Quotes an identifier for PostgreSQL, SQLite and DuckDB (double quotes, doubled inside). */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Quotes an identifier for MySQL and MariaDB (backticks, doubled inside). */
export function quoteBacktick(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
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
