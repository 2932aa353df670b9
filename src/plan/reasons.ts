// Why a record is invalid, in words a user can act on: each reason names the field and shows the
// value that failed (hidden when the field could hold a secret), and records failing the same way
// share one group, so a summary says "3,176 × country: …" once instead of 3,176 lines.
import type { z } from 'zod';
import { redact } from '../redact.js';

/** Field names whose values are never shown: they could hold a password, token or key. */
const SECRET_FIELD = /pass(word)?|secret|token|api[-_]?key|auth|credential|private/i;

export function isSecretField(name: string): boolean {
  return SECRET_FIELD.test(name);
}

/** The value that failed, short and safe to print: JSON, cut at 40 characters, secrets hidden. */
export function offendingValue(path: readonly PropertyKey[], value: unknown): string {
  if (path.some((part) => typeof part === 'string' && isSecretField(part))) return '***';
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value) ?? String(value);
  return redact(text.length > 40 ? `${text.slice(0, 39)}…` : text);
}

function valueAt(payload: unknown, path: readonly PropertyKey[]): unknown {
  let value = payload;
  for (const part of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

export interface InvalidReason {
  /** What failed, with the offending values: `country: must be … (got "Germany")`. */
  reason: string;
  /** The same without the values: every record that fails this way shares it. */
  group: string;
}

/** The reason of a payload the connector's schema refused, read against the payload itself. */
export function describeIssues(error: z.ZodError, payload: unknown): InvalidReason {
  const parts = error.issues.map((issue) => {
    const where = issue.path.join('.') || '(payload)';
    const message = `${where}: ${issue.message.replace(/^Invalid input: /, '')}`;
    const value = issue.path.length > 0 ? offendingValue(issue.path, valueAt(payload, issue.path)) : undefined;
    // A required field that is absent needs no "(got (absent))".
    return { message, full: value === undefined || value === '(absent)' ? message : `${message} (got ${value})` };
  });
  return { reason: parts.map((part) => part.full).join('; '), group: parts.map((part) => part.message).join('; ') };
}

/** Records that fail the same way: how many, and a few of their keys with what they held. */
export interface ReasonGroup {
  reason: string;
  count: number;
  examples: { key: string; reason: string }[];
}

/** Distinct reasons kept per run or plan; the rest are counted together, so memory stays bounded. */
const MAX_GROUPS = 100;
const EXAMPLES = 3;
export const OTHER_REASONS = '(other reasons)';

export class ReasonGroups {
  private readonly groups = new Map<string, ReasonGroup>();

  add(group: string, key: string, reason: string): void {
    const name = this.groups.has(group) || this.groups.size < MAX_GROUPS ? group : OTHER_REASONS;
    let entry = this.groups.get(name);
    if (!entry) this.groups.set(name, (entry = { reason: name, count: 0, examples: [] }));
    entry.count++;
    if (entry.examples.length < EXAMPLES) entry.examples.push({ key, reason });
  }

  /** Most frequent first. */
  list(): ReasonGroup[] {
    return [...this.groups.values()].sort((a, b) => b.count - a.count);
  }
}

/** The reason of a row the mapping could not turn into a payload (a transform refused its value). */
export function describeMappingError(field: string, message: string): InvalidReason {
  // Transform messages end with the value they got: the group is the message without it.
  const group = message.replace(/, got .*$/s, '');
  return { reason: isSecretField(field) && group !== message ? `${group}, got ***` : redact(message), group };
}
