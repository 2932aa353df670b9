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
