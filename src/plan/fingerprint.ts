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

/** JSON with object keys sorted at every depth. Built by concatenation: it runs once per record. */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
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
