// The primary key a dbt model declares, for a sync that sets no primaryKey: a meta entry first (the
// author said so), then a primary_key constraint, then the column of its `unique` test.
import { isObject, type Json } from './artifact.js';

export interface KeyHint {
  column: string;
  /** Where it came from, in the user's words: "meta backflow.primary_key", "its unique test unique_dim_users_id". */
  from: string;
}

/** A declaration Backflow cannot use as one key column, with why. */
export interface KeyProblem {
  problem: string;
}

/** What the key search needs of a model node and its tests. */
export interface KeyedNode {
  meta: Json;
  constraints: unknown[];
  columns: Record<string, { constraints: unknown[] }>;
  /** The model's unique and not_null tests: test name and column. */
  uniqueTests: { name: string; column: string }[];
  notNullColumns: Set<string>;
}

const COMPOSITE = 'Backflow keys a record on one column: add a single key column (e.g. dbt_utils.generate_surrogate_key) and name it';

/** A meta value as one column name (a one-item list counts), a problem, or nothing. */
function metaColumn(value: unknown, from: string): KeyHint | KeyProblem | undefined {
  if (value === undefined || value === null) return undefined;
  const items = Array.isArray(value) ? value : [value];
  if (items.length === 1 && typeof items[0] === 'string' && items[0].trim()) return { column: items[0].trim(), from };
  if (items.length > 1) return { problem: `${from} lists ${items.length} columns; ${COMPOSITE}` };
  return { problem: `${from} must be a column name, not ${JSON.stringify(value)}` };
}

const isPrimaryKey = (constraint: unknown) => isObject(constraint) && constraint.type === 'primary_key';

export function primaryKeyOf(node: KeyedNode): KeyHint | KeyProblem | undefined {
  const backflow = isObject(node.meta.backflow) ? node.meta.backflow : {};
  const fromMeta =
    metaColumn(backflow.primary_key ?? backflow.primaryKey, 'meta backflow.primary_key') ?? metaColumn(node.meta.primary_key, 'meta primary_key');
  if (fromMeta) return fromMeta;

  const modelConstraint = node.constraints.find(isPrimaryKey) as { columns?: unknown } | undefined;
  if (modelConstraint) return metaColumn(modelConstraint.columns, 'its primary_key constraint');
  const constrained = Object.entries(node.columns)
    .filter(([, column]) => column.constraints.some(isPrimaryKey))
    .map(([name]) => name);
  if (constrained.length === 1) return { column: constrained[0], from: 'its primary_key constraint' };
  if (constrained.length > 1) return { problem: `its primary_key constraints cover ${constrained.join(', ')}; ${COMPOSITE}` };

  // Of several unique columns, the ones also tested not_null are the better key; more than one left is a choice for the user.
  const unique = [...new Map(node.uniqueTests.map((test) => [test.column, test])).values()];
  const notNull = unique.filter((test) => node.notNullColumns.has(test.column));
  const candidates = notNull.length > 0 ? notNull : unique;
  if (candidates.length === 1) return { column: candidates[0].column, from: `its unique test ${candidates[0].name}` };
  if (candidates.length > 1) {
    return { problem: `it has unique tests on ${candidates.map((test) => test.column).join(', ')}: set primaryKey on the sync to choose one` };
  }
  return undefined;
}

/** The column a generic test names, when it is a plain column (not an expression); quotes removed. */
export function testColumn(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const bare = value.trim().replace(/^(["`])(.*)\1$/, '$2');
  return /^[\w$ ]+$/.test(bare) ? bare : undefined;
}
