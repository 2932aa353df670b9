// SQL helpers shared by the SQL sources: how a sync's query is turned into the statement that runs.
import { sourceColumn } from '../mapping/index.js';
import type { PushdownSpec, Row } from './contract.js';

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
export function incrementalQuery(query: string, cursorColumn: string | undefined, cursor: unknown, quote: (name: string) => string = quoteIdent): string {
  const bare = bareQuery(query);
  if (bindsCursor(bare) || !cursorColumn || cursor === null || cursor === undefined) return bare;
  // The newline ends a `-- comment` on the query's last line, which would otherwise swallow the `)`.
  return `select * from (${bare}\n) as backflow_source where ${quote(cursorColumn)} > :cursor`;
}

/** The statement that returns the query's columns without reading rows. */
export function emptyQuery(query: string): string {
  return `select * from (${bareQuery(query)}\n) as backflow_source limit 0`;
}

/** How a read may begin: SELECT, WITH … SELECT, VALUES, TABLE, and DuckDB's FROM-first and PIVOT forms. */
const READ_STARTS = new Set(['select', 'with', 'values', 'table', 'from', 'pivot', 'unpivot', 'summarize', 'describe']);
/** Words that only appear in statements that change data or schema (a data-modifying CTE, SELECT INTO). */
const WRITE_WORDS = new Set(['insert', 'update', 'delete', 'merge', 'into', 'truncate', 'drop', 'alter', 'create', 'grant', 'revoke']);

/**
 * The query's words outside comments, string literals and quoted identifiers (where a word such as
 * "delete" is only data), plus a `;` for each statement separator.
 */
function sqlWords(query: string): string[] {
  const stripped = bareQuery(query).replace(
    /--[^\n]*|#[^\n]*|\/\*[\s\S]*?(\*\/|$)|'(?:[^']|'')*('|$)|"(?:[^"]|"")*("|$)|`(?:[^`]|``)*(`|$)|\$([A-Za-z_]\w*)?\$[\s\S]*?(\$\5\$|$)/g,
    ' ',
  );
  return stripped.toLowerCase().match(/[a-z_][a-z0-9_$]*|;/g) ?? [];
}

/**
 * Why a sync's query is not a plain read, or undefined when it is. Sources already run queries
 * read-only; this check gives the clear, early message (at the query's line in the config) instead
 * of a driver error halfway through a run, and protects sources whose engine could write (an
 * in-memory DuckDB can COPY to files).
 */
export function notAReadReason(query: string): string | undefined {
  const words = sqlWords(query);
  if (words.length === 0) return 'the query is empty (only comments)';
  if (words.includes(';')) return 'the query holds more than one statement: give one SELECT';
  if (!READ_STARTS.has(words[0])) return `the query starts with ${words[0].toUpperCase()}, not SELECT`;
  const write = words.find((word) => WRITE_WORDS.has(word));
  if (write) return `the query contains ${write.toUpperCase()}, which changes data`;
  return undefined;
}

/**
 * The columns of the query (`present`) a pushdown read hashes: the key and every column the mapping
 * reads, each once, sorted (so reordering the mapping keeps the hash). A mapped name the query lacks
 * is left out here: the engine reports it (Classifier.checkColumnNames) before any row is read.
 */
export function hashedColumns(spec: PushdownSpec, present: Set<string>): string[] {
  if (!present.has(spec.primaryKey)) throw new Error(`the query returns no column "${spec.primaryKey}" (the primaryKey)`);
  return [
    ...new Set([spec.primaryKey, ...spec.columns].map((name) => sourceColumn(name, (column) => present.has(column))).filter((name) => name !== undefined)),
  ].sort();
}

/**
 * Pushdown pass 2's answer, as rows and hashes: each result row holds the mapped columns (`names`),
 * then the key as text, then the row's hash. A lookup equal in the key's type is not always the same
 * text (a case-insensitive collation, trailing spaces, MySQL comparing a bigint with text as a
 * float): only rows whose key text was asked for count.
 */
export function fetchedRows(result: unknown[][], names: string[], wanted: Set<string>): { rows: Row[]; hashes: string[] } {
  const rows: Row[] = [];
  const hashes: string[] = [];
  for (const values of result) {
    if (!wanted.has(values[names.length] as string)) continue;
    const row: Row = {};
    names.forEach((name, index) => (row[name] = values[index]));
    rows.push(row);
    hashes.push(values[names.length + 1] as string);
  }
  return { rows, hashes };
}
