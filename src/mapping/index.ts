// Mapping: turns a source row into a destination payload, following the sync's `mapping` block.
import type { MappingValue } from '../config/schema.js';
import type { Row } from '../sources/contract.js';
import { TransformError, transforms, type TransformName } from './transforms.js';

/** A row that cannot be mapped: names the field and says why. */
export class MappingError extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
  }
}

export type Mapper = (row: Row) => Record<string, unknown>;

/** Makes warehouse values JSON-plain, so the payload and its fingerprint are stable. */
function plain(value: unknown): unknown {
  // Text, numbers, booleans and nulls are most values: return them before any object test.
  if (typeof value !== 'object' && typeof value !== 'bigint') return value;
  if (value === null) return value;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  // Bytes: a Buffer, or a Uint8Array (as a Buffer arrives from the reader's thread).
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, plain(inner)]));
  }
  return value;
}

/**
 * The column a mapped name is read from, of those `has` knows: the name itself, or else the longest
 * leading part of a dotted name that is a column (a JSON/object column the rest reads into).
 */
export function sourceColumn(name: string, has: (column: string) => boolean): string | undefined {
  if (has(name)) return name;
  const parts = name.split('.');
  for (let split = parts.length - 1; split > 0; split--) {
    const head = parts.slice(0, split).join('.');
    if (has(head)) return head;
  }
  return undefined;
}

/** Reads a column; a dotted name that is not a column reads into a JSON/object column. */
export function readColumn(row: Row, column: string): unknown {
  if (column in row) return row[column];
  const head = sourceColumn(column, (name) => name in row);
  if (head === undefined) return undefined;
  let value: unknown = row[head];
  for (const part of column.slice(head.length + 1).split('.')) {
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value);
      } catch {
        return undefined;
      }
    }
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

const PLACEHOLDER = /\{\{\s*([^}]+?)\s*\}\}/g;

/**
 * Compiles a template once into its literal text and placeholders, so a row only concatenates. A
 * template whose every placeholder is null renders as null (so onNull applies).
 */
function compileTemplate(template: string): (row: Row) => unknown {
  const literals: string[] = [];
  const columns: string[] = [];
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    literals.push(template.slice(last, match.index));
    columns.push(match[1]);
    last = match.index + match[0].length;
  }
  const tail = template.slice(last);
  if (columns.length === 0) return /\{\{/.test(template) ? () => null : () => template;
  return (row) => {
    let anyValue = false;
    let text = '';
    for (let index = 0; index < columns.length; index++) {
      const value = plain(readColumn(row, columns[index]));
      text += literals[index];
      if (value === null || value === undefined) continue;
      anyValue = true;
      text += typeof value === 'object' ? JSON.stringify(value) : String(value);
    }
    return anyValue ? text + tail : null;
  };
}

/** Sets a value at a target path split once (`tags.plan` → ['tags', 'plan']), building nested objects. */
function setPath(target: Record<string, unknown>, parts: string[], value: unknown): void {
  let node = target;
  for (let index = 0; index < parts.length - 1; index++) {
    const part = parts[index];
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

/**
 * Every column a sync reads: its key, its cursor and the mapping's columns. One list, so the
 * planner's check of a read and `validate --connect` can never disagree on what is missing.
 */
export function columnsRead(sync: { primaryKey: string; cursor?: string; mapping: Record<string, MappingValue> }): string[] {
  return [sync.primaryKey, ...(sync.cursor ? [sync.cursor] : []), ...mappingColumns(sync.mapping)];
}

/** Columns a mapping reads. */
export function mappingColumns(mapping: Record<string, MappingValue>): string[] {
  return Object.values(mapping).flatMap((entry) => {
    if (typeof entry === 'string') return [entry];
    if (entry.column) return [entry.column];
    if (entry.template) return [...entry.template.matchAll(PLACEHOLDER)].map((match) => match[1]);
    return [];
  });
}

/**
 * Of `needed` columns, those a row with `present` columns cannot supply: neither the column itself
 * nor a JSON column it reads into (sourceColumn, the rule readColumn reads by).
 */
export function missingColumns(needed: Iterable<string>, present: Iterable<string>): string[] {
  const have = new Set(present);
  return [...new Set(needed)].filter((column) => sourceColumn(column, (name) => have.has(name)) === undefined);
}

/** Compiles a mapping once into a function applied to every row (the per-row work is only reading values). */
export function compileMapping(mapping: Record<string, MappingValue>): Mapper {
  const fields = Object.entries(mapping).map(([target, entry]) => {
    const spec = typeof entry === 'string' ? { column: entry, onNull: 'omit' as const } : entry;
    const steps = (spec.transform === undefined ? [] : [spec.transform].flat()) as TransformName[];
    const column = spec.column!;
    const read: (row: Row) => unknown =
      'value' in spec ? () => spec.value : spec.template !== undefined ? compileTemplate(spec.template) : (row) => readColumn(row, column);
    const parts = target.split('.');
    // Most targets are top-level fields: set them directly (setPath cost 3% of a first plan).
    const set =
      parts.length === 1
        ? (payload: Record<string, unknown>, value: unknown) => (payload[target] = value)
        : (payload: Record<string, unknown>, value: unknown) => setPath(payload, parts, value);
    return { target, set, spec, steps, read };
  });

  return (row) => {
    const payload: Record<string, unknown> = {};
    for (const { target, set, spec, steps, read } of fields) {
      let value = plain(read(row));
      if ((value === null || value === undefined) && spec.default !== undefined) value = spec.default;
      if (value === null || value === undefined) {
        if (spec.onNull === 'send') set(payload, null);
        continue;
      }
      for (const step of steps) {
        try {
          value = transforms[step](value);
        } catch (error) {
          if (error instanceof TransformError) throw new MappingError(target, `transform ${step}: ${error.message}`);
          throw error;
        }
      }
      set(payload, value);
    }
    return payload;
  };
}
