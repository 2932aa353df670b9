// Fingerprint: a hash of the canonical payload (keys sorted at every depth), so key order never
// matters and any change of value, or of the mapping, changes it.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every depth. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const entries = Object.keys(value as object)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${entries.join(',')}}`;
}

export function fingerprint(payload: unknown): string {
  return createHash('sha256').update(canonicalJson(payload)).digest('base64url').slice(0, 32);
}
