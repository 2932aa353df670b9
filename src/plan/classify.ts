// Classification: each source row becomes a planned record (added, changed, unchanged, invalid,
// retry), and at the end of a full read, each record sent before but not read is `removed`.
// Used by both `plan` and `sync`, so what plan shows is what sync does.
import type { z } from 'zod';
import type { Connector } from '../../connectors/contract.js';
import type { MappingValue } from '../config/schema.js';
import { compileMapping, mappingColumns, MappingError, missingColumns, type Mapper } from '../mapping/index.js';
import type { Row } from '../sources/contract.js';
import type { StateStore, StoredRejection } from '../state/store.js';
import { diffPayloads, type FieldChange } from './diff.js';
import { fingerprint } from './fingerprint.js';

export type RecordClass = 'added' | 'changed' | 'unchanged' | 'removed' | 'invalid' | 'retry';
export const RECORD_CLASSES: readonly RecordClass[] = ['added', 'changed', 'unchanged', 'removed', 'invalid', 'retry'];

export interface PlannedRecord {
  key: string;
  class: RecordClass;
  /** The payload that would be sent (valid records). */
  payload?: unknown;
  fingerprint?: string;
  /** Field changes against the last confirmed payload (changed, retry of a changed record). */
  changes?: FieldChange[];
  /** Why the record is invalid, or the earlier rejection being retried. */
  reason?: string;
  /** The row's cursor column value (incremental syncs). */
  cursor?: unknown;
  /** When this version was first seen (for destinations that want the time of the change). */
  changedAt: string;
}

const NULL_KEY = '(null)';

export function isSendable(record: PlannedRecord): boolean {
  return record.class === 'added' || record.class === 'changed' || record.class === 'retry';
}

/** Cursor values as SQLite can compare and JSON can store: dates become ISO text. */
export function cursorValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return value ?? null;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message.replace(/^Invalid input: /, '')}`)
    .join('; ');
}

export interface ClassifierOptions {
  sync: string;
  primaryKey: string;
  cursorColumn?: string;
  mapping: Record<string, MappingValue>;
  connector: Connector;
  state: StateStore;
  startedAt: string;
}

/**
 * The source no longer returns a column the sync reads (dropped or renamed in the warehouse). Sending
 * on would strip that field from every record (or key every record as null): the run stops first.
 */
export class MissingColumnError extends Error {}

export class Classifier {
  private readonly mapper: Mapper;
  private columnsChecked = false;

  constructor(private readonly options: ClassifierOptions) {
    this.mapper = compileMapping(options.mapping);
    options.state.resetSeen();
  }

  /** Throws MissingColumnError when `row` lacks a column the key, cursor or mapping reads. */
  private checkColumns(row: Row): void {
    const { primaryKey, cursorColumn, mapping, sync } = this.options;
    const present = Object.keys(row);
    const missing = missingColumns([primaryKey, ...(cursorColumn ? [cursorColumn] : []), ...mappingColumns(mapping)], present);
    if (missing.length === 0) return;
    const role = (column: string) => (column === primaryKey ? 'the primaryKey' : column === cursorColumn ? 'the cursor' : 'the mapping');
    throw new MissingColumnError(
      `sync "${sync}": the source returned no column ${missing.map((column) => `"${column}" (read by ${role(column)})`).join(', ')}; ` +
        `it returned ${present.join(', ')}. Was it dropped or renamed? Fix the query or the mapping; nothing was sent.`,
    );
  }

  /** Classifies one batch of rows, in order. */
  classify(rows: Row[]): PlannedRecord[] {
    const { primaryKey, cursorColumn, connector, state, sync, startedAt } = this.options;
    const mapper = this.mapper;
    if (!this.columnsChecked && rows.length > 0) {
      this.checkColumns(rows[0]);
      this.columnsChecked = true;
    }
    const planned: PlannedRecord[] = [];
    for (const row of rows) {
      const rawKey = row[primaryKey];
      const cursor = cursorColumn ? cursorValue(row[cursorColumn]) : undefined;
      if (rawKey === null || rawKey === undefined || rawKey === '') {
        planned.push({ key: NULL_KEY, class: 'invalid', reason: `primary key column "${primaryKey}" is null or missing in this row`, cursor, changedAt: startedAt });
        continue;
      }
      const key = rawKey instanceof Date ? rawKey.toISOString() : String(rawKey);
      try {
        const parsed = connector.payload.safeParse(mapper(row));
        if (!parsed.success) {
          planned.push({ key, class: 'invalid', reason: describeIssues(parsed.error), cursor, changedAt: startedAt });
          continue;
        }
        planned.push({ key, class: 'added', payload: parsed.data, fingerprint: fingerprint(parsed.data), cursor, changedAt: startedAt });
      } catch (error) {
        if (!(error instanceof MappingError)) throw error;
        planned.push({ key, class: 'invalid', reason: error.message, cursor, changedAt: startedAt });
      }
    }

    // The same key twice in one read: only the first row counts; the others are invalid.
    const keyed = planned.filter((record) => record.key !== NULL_KEY);
    const isFirst = state.firstReads(keyed.map((record) => record.key));
    keyed.forEach((record, index) => {
      if (isFirst[index]) return;
      Object.assign(record, {
        class: 'invalid',
        reason: `duplicate primary key: the query returned "${record.key}" more than once; only the first row is used`,
        payload: undefined,
      });
    });

    const valid = planned.filter((record) => record.class === 'added');
    const { records, rejections } = state.lookup(sync, valid.map((record) => record.key));
    const toSend = valid.filter((record) => {
      if (records.get(record.key) !== record.fingerprint) return true;
      record.class = 'unchanged';
      return false;
    });
    // Field diffs against what was last sent: only records that changed need the stored payload.
    const payloads = state.confirmedPayloads(sync, toSend.filter((record) => records.has(record.key)).map((record) => record.key));
    for (const record of toSend) {
      const previous = payloads.get(record.key);
      const rejection: StoredRejection | undefined = rejections.get(record.key);
      if (previous !== undefined) record.changes = diffPayloads(JSON.parse(previous), record.payload);
      if (rejection) {
        record.class = 'retry';
        record.reason = rejection.reason;
        if (rejection.fingerprint === record.fingerprint) record.changedAt = rejection.first_at;
      } else {
        record.class = previous !== undefined ? 'changed' : 'added';
      }
    }

    // Invalid and unchanged records are settled: nothing of theirs waits for a confirmation.
    state.addSeen(
      keyed
        .filter((_, index) => isFirst[index])
        .map((record) => ({ key: record.key, cursor: record.cursor ?? null, ok: record.class === 'invalid' || record.class === 'unchanged' })),
    );
    return planned;
  }

  /** After a full read: records confirmed earlier that the query no longer returns, a page at a time. */
  *removed(): Generator<PlannedRecord[]> {
    const { state, sync, startedAt } = this.options;
    let after = '';
    for (;;) {
      const page = state.unseenKeys(sync, after, 1000);
      if (page.length === 0) return;
      after = page[page.length - 1].key;
      yield page.map((row) => ({ key: row.key, class: 'removed', fingerprint: row.fingerprint, changedAt: startedAt }));
    }
  }
}
