// PostgreSQL's COPY text format, decoded exactly. COPY TO writes one line per row, its columns
// separated by tabs, `\N` for NULL, and a backslash before every backslash, and for the backspace,
// form feed, newline, carriage return, tab and vertical tab it writes `\b \f \n \r \t \v`: a raw
// newline or tab is only ever a separator. What is left of each field is the text the row protocol
// carries for the same value (both come from the type's output function under the same session
// settings), so a column decodes with the very parser the row protocol uses.
import type { Row } from './contract.js';

const NULL_FIELD = '\\N';
const UNESCAPED: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };

/** One field's text without COPY's escapes. */
export function unescapeField(field: string): string {
  // COPY TO escapes nothing else (it never writes octal or hex escapes): anything else is not its output.
  return field.replace(/\\([\s\S]?)/g, (escape, char: string) => {
    const text = UNESCAPED[char];
    if (text === undefined) throw new Error(`unexpected escape "${escape}" in the COPY data`);
    return text;
  });
}

/** A line's fields (without its newline): text without escapes, or null for `\N`. */
export function copyFields(line: string): (string | null)[] {
  return line.split('\t').map((field) => (field === NULL_FIELD ? null : field.includes('\\') ? unescapeField(field) : field));
}

export interface CopyColumn {
  name: string;
  /** The row protocol's text parser for the column's type. */
  parse: (text: string) => unknown;
}

/**
 * Builds a row from one line of COPY data (a CopyData message: the line and its newline), column by
 * column as the row protocol does: a later column of the same name replaces an earlier one.
 */
export function copyRowDecoder(columns: CopyColumn[]): (line: string) => Row {
  return (line) => {
    if (!line.endsWith('\n')) throw new Error('a COPY line does not end with a newline');
    const fields = copyFields(line.slice(0, -1));
    if (fields.length !== columns.length) throw new Error(`a COPY line holds ${fields.length} columns where the query returns ${columns.length}`);
    const row: Row = {};
    for (let index = 0; index < columns.length; index++) {
      const field = fields[index];
      row[columns[index].name] = field === null ? null : columns[index].parse(field);
    }
    return row;
  };
}
