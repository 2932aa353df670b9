// Field-level diff between the last payload sent and the one a run would send.

export interface FieldChange {
  /** Dotted field path, e.g. tags.plan. */
  field: string;
  /** undefined when the field was absent. */
  old?: unknown;
  new?: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Changed leaves; nested objects are compared field by field, arrays as whole values. */
export function diffPayloads(before: unknown, after: unknown, prefix = ''): FieldChange[] {
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) => diffPayloads(before[key], after[key], prefix ? `${prefix}.${key}` : key));
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const change: FieldChange = { field: prefix || '(payload)' };
  if (before !== undefined) change.old = before;
  if (after !== undefined) change.new = after;
  return [change];
}
