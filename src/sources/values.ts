// Value rules every source follows, so a column of one SQL type reads the same from every engine
// (the table in README.md, Sources > How values arrive): exact integers, calendar dates as text, JSON as objects.

/**
 * A 64-bit (or wider) integer as a plain value: a number when JavaScript holds it exactly, otherwise
 * its decimal text, so ids never silently change.
 */
export function exactInteger(value: bigint | string): number | string {
  const number = Number(value);
  return Number.isSafeInteger(number) ? number : String(value);
}

/** Text of a JSON column as its value; text that is not valid JSON is kept as it is. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Timestamps read with more precision than a Date holds (PostgreSQL, MySQL and DuckDB keep
 * microseconds): the source's own fractional seconds, kept on the Date under a symbol key, which
 * row values' equality, hashing, JSON and the copy to the engine's thread all leave out, so payloads
 * and fingerprints stay what they always were. Only the fraction is kept per value (every timestamp
 * of every row passes here); the ISO text is built for the cursor column alone, by exactInstant.
 */
const EXACT_FRACTION = Symbol('exactFraction');

type WithFraction = Date & { [EXACT_FRACTION]?: string };

/** `date` (already truncated to the millisecond) with the source's fractional seconds (up to 9 digits). */
export function withExactFraction(date: Date, fraction: string): Date {
  (date as WithFraction)[EXACT_FRACTION] = fraction;
  return date;
}

/**
 * The exact ISO instant of a timestamp read by a source, when it is more precise than its Date.
 * Offsets are whole minutes, so the fraction of the source's text is the fraction of the UTC
 * instant. Always at least 6 digits, so a column's cursors all have one width and compare as text
 * (SQLite's max() over a run's reads).
 */
export function exactInstant(value: unknown): string | undefined {
  if (!(value instanceof Date)) return undefined;
  const fraction = (value as WithFraction)[EXACT_FRACTION];
  if (fraction === undefined || !/^\d{0,9}$/.test(fraction) || Number.isNaN(value.getTime())) return undefined;
  const iso = value.toISOString();
  // Years past 9999 or before 0 print differently; their Date is all there is.
  return iso.length === 24 ? `${iso.slice(0, 20)}${fraction.padEnd(6, '0')}Z` : undefined;
}

const ISO_INSTANT = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Orders two cursor values: numbers as numbers, ISO instants by time whatever their precision (a
 * cursor stored to the millisecond by an older Backflow against one read to the microsecond), other
 * text as text.
 */
export function compareCursors(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  let [left, right] = [String(a), String(b)];
  const [instantA, instantB] = [ISO_INSTANT.exec(left), ISO_INSTANT.exec(right)];
  if (instantA && instantB) {
    left = `${instantA[1]}.${(instantA[2] ?? '').padEnd(9, '0')}`;
    right = `${instantB[1]}.${(instantB[2] ?? '').padEnd(9, '0')}`;
  }
  return left < right ? -1 : left > right ? 1 : 0;
}
