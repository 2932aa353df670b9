// Fingerprint: a hash of the canonical payload (keys sorted at every depth), so key order never
// matters and any change of value, or of the mapping, changes it.
import { hash } from 'node:crypto';

// Payloads repeat the same field names record after record: quote each once (bounded, in case a
// JSON column brings endless distinct keys).
const quotedKeys = new Map<string, string>();
function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = `${JSON.stringify(key)}:`;
    if (quotedKeys.size < 10_000) quotedKeys.set(key, quoted);
  }
  return quoted;
}

// Text JSON.stringify would write as is ("…"), the common case: no escaping needed.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const PLAIN_TEXT = /^[^"\\\u0000-\u001f\ud800-\udfff]*$/;

/**
 * JSON with object keys sorted at every depth. Built by concatenation: it runs once per record.
 * Plain text is quoted without JSON.stringify, and keys already in order (a mapping's payloads
 * mostly are) are not sorted again: the same text, at two thirds of the cost.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return PLAIN_TEXT.test(value) ? `"${value}"` : JSON.stringify(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  for (let index = 1; index < keys.length; index++) {
    // Same order as sort(): both compare UTF-16 code units.
    if (keys[index - 1] > keys[index]) {
      keys.sort();
      break;
    }
  }
  let text = '{';
  for (const key of keys) {
    const inner = record[key];
    if (inner === undefined) continue;
    if (text.length > 1) text += ',';
    text += quotedKey(key) + canonicalJson(inner);
  }
  return `${text}}`;
}

/** The one-shot `hash` gives the same digest as createHash().update().digest(), at a third of the cost. */
export function fingerprint(payload: unknown): string {
  return hash('sha256', canonicalJson(payload), 'base64url').slice(0, 32);
}

/**
 * Hashes source rows for one mapping: equal hashes mean equal rows under the same mapping and
 * connector, hence the same payload, so a row whose hash matches the one stored with its confirmed
 * payload is unchanged without being mapped, validated or fingerprinted. Bump ROW_HASH_SCHEME when
 * a release changes how a row becomes a payload (a transform, a connector's payload rules), so no
 * stored hash outlives it.
 */
const ROW_HASH_SCHEME = 'backflow-row/1';

export function rowHasher(connectorType: string, mapping: unknown): (row: Record<string, unknown>) => string {
  // The mapping, hashed once: a short prefix keeps the per-row hash input small.
  const salt = hash('sha256', `${ROW_HASH_SCHEME}\n${connectorType}\n${canonicalJson(mapping)}`, 'base64url').slice(0, 16);
  return (row) => hash('sha256', salt + rowText(row), 'base64url').slice(0, 32);
}

/**
 * The row as text that tells apart every two rows a mapping could tell apart: column names, values
 * and their types (1, "1", 1n and a date differ). Three writers, told apart by their first
 * character: JSON (`{`), the fastest, for most rows; for a row holding a date, JSON-like text with
 * dates as epoch milliseconds (`"`), since Date#toJSON costs more than the rest of the row; and for
 * the rare row JSON refuses (a bigint), JSON with every string and bigint tagged (`~`).
 */
function rowText(row: Record<string, unknown>): string {
  try {
    for (const column in row) if (row[column] instanceof Date) return textWithDates(row);
    return JSON.stringify(row);
  } catch {
    return `~${JSON.stringify(row, (_, value) => (typeof value === 'bigint' ? `b${value}` : typeof value === 'string' ? `s${value}` : value))}`;
  }
}

function textWithDates(row: Record<string, unknown>): string {
  let text = '';
  for (const column in row) {
    const value = row[column];
    text += quotedKey(column);
    if (typeof value === 'string') text += PLAIN_TEXT.test(value) ? `"${value}",` : `${JSON.stringify(value)},`;
    else if (value instanceof Date) text += `D${value.getTime()},`;
    else text += `${JSON.stringify(value)},`;
  }
  return text;
}
