// The documented value transforms a mapping can apply. Each takes a non-null value and returns the
// new value, or throws a TransformError that says what was expected.

export class TransformError extends Error {}

function text(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function toDate(value: unknown): Date {
  const date =
    value instanceof Date
      ? value
      : typeof value === 'number'
        ? new Date(value < 1e11 ? value * 1000 : value) // unix seconds or milliseconds
        : new Date(String(value));
  if (Number.isNaN(date.getTime())) throw new TransformError(`expected a date, got ${JSON.stringify(text(value))}`);
  return date;
}

// A timestamp already written as toISOString writes it (UTC, milliseconds): most iso8601 inputs
// from text columns. Parsing and re-printing it costs more than the rest of a row's mapping.
const CANONICAL_ISO = /^(\d{4})-(\d{2})-(\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d\.\d{3}Z$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Whether `text` is exactly what `new Date(text).toISOString()` returns (a real calendar day). */
export function isCanonicalIso(text: string): boolean {
  const parts = CANONICAL_ISO.exec(text);
  if (!parts) return false;
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (month < 1 || month > 12 || day < 1) return false;
  const leapDay = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  return day <= DAYS_IN_MONTH[month - 1] + leapDay;
}

const TRUE = new Set(['true', 't', 'yes', 'y', '1', 'on']);
const FALSE = new Set(['false', 'f', 'no', 'n', '0', 'off', '']);

function toNumber(value: unknown): number {
  const number = typeof value === 'number' ? value : typeof value === 'bigint' ? Number(value) : Number(text(value).trim());
  if (!Number.isFinite(number) || (typeof value === 'string' && value.trim() === '')) {
    throw new TransformError(`expected a number, got ${JSON.stringify(text(value))}`);
  }
  return number;
}

export const transforms = {
  /** Upper-cases text (e.g. country codes). */
  upper: (value: unknown) => text(value).toUpperCase(),
  /** Lower-cases text (e.g. emails). */
  lower: (value: unknown) => text(value).toLowerCase(),
  /** Removes leading and trailing white space. */
  trim: (value: unknown) => text(value).trim(),
  /** Any value as text; dates become ISO 8601. */
  string: (value: unknown) => text(value),
  /** A finite number from a number or numeric text (numeric/decimal columns arrive as text). */
  number: toNumber,
  /** A whole number; fractional values are refused rather than silently rounded. */
  integer: (value: unknown) => {
    const number = toNumber(value);
    if (!Number.isInteger(number)) throw new TransformError(`expected a whole number, got ${number}`);
    return number;
  },
  /** true/false from booleans, 1/0, and yes/no, t/f, on/off text. */
  boolean: (value: unknown) => {
    if (typeof value === 'boolean') return value;
    const word = text(value).trim().toLowerCase();
    if (TRUE.has(word)) return true;
    if (FALSE.has(word)) return false;
    throw new TransformError(`expected a boolean (true/false, yes/no, 1/0), got ${JSON.stringify(text(value))}`);
  },
  /** A full ISO 8601 timestamp in UTC, from a date, date text, or unix seconds/milliseconds. */
  iso8601: (value: unknown) => (typeof value === 'string' && isCanonicalIso(value) ? value : toDate(value).toISOString()),
  /** A calendar date, YYYY-MM-DD (UTC). */
  date: (value: unknown) => toDate(value).toISOString().slice(0, 10),
  /** Parses JSON text into an object or array (JSON columns stored as text). */
  json: (value: unknown) => {
    if (typeof value !== 'string') return value;
    try {
      return JSON.parse(value);
    } catch {
      throw new TransformError(`expected JSON text, got ${JSON.stringify(value.slice(0, 80))}`);
    }
  },
} satisfies Record<string, (value: unknown) => unknown>;

export type TransformName = keyof typeof transforms;
export const TRANSFORM_NAMES = Object.keys(transforms) as [string, ...string[]];
