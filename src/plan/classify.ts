// Classification: each source row becomes a planned record (added, changed, unchanged, invalid,
// retry), and at the end of a full read, each record sent before but not read is `removed`.
// Used by both `plan` and `sync`, so what plan shows is what sync does.
import type { Connector } from '../../connectors/contract.js';
import { SourceError } from '../errors.js';
import type { MappingValue } from '../config/schema.js';
import { columnsRead, compileMapping, MappingError, missingColumns, type Mapper } from '../mapping/index.js';
import type { Row } from '../sources/contract.js';
import type { HashedBatch } from '../sources/read-in-worker.js';
import type { StandingRejection } from '../state/history.js';
import type { StateStore } from '../state/store.js';
import { diffPayloads, type FieldChange } from './diff.js';
import { fingerprint } from '../fingerprint.js';
import { describeIssues, describeMappingError } from './reasons.js';

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
  /** Why the record is invalid (with the offending value), or the earlier rejection being retried. */
  reason?: string;
  /** An invalid record's reason without its values: records that fail the same way share it. */
  reasonGroup?: string;
  /** Hash of the source row (with the mapping): equal to the stored one means unchanged. */
  rowHash?: string;
  /** Pushdown reads: the database's hash of the row's mapped columns, salted (see src/engine/pushdown.ts). */
  sourceHash?: string;
  /** The row's cursor column value (incremental syncs). */
  cursor?: unknown;
  /** When this version was first seen (for destinations that want the time of the change). */
  changedAt: string;
}

const NULL_KEY = '(null)';

/** A row's key as the state keeps it. */
function recordKey(rawKey: unknown): string {
  return rawKey instanceof Date ? rawKey.toISOString() : String(rawKey);
}

export function isSendable(record: PlannedRecord): boolean {
  return record.class === 'added' || record.class === 'changed' || record.class === 'retry';
}

/** Cursor values as SQLite can compare and JSON can store: dates become ISO text. */
export function cursorValue(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'bigint') return value.toString();
  return value ?? null;
}

export interface ClassifierOptions {
  sync: string;
  primaryKey: string;
  cursorColumn?: string;
  mapping: Record<string, MappingValue>;
  connector: Connector;
  state: StateStore;
  startedAt: string;
  /** Store the row hash of records found unchanged by comparing payloads (sync; plan writes nothing). */
  refreshRowHashes: boolean;
}

export class Classifier {
  private readonly mapper: Mapper;
  private columnsChecked = false;
  /** Records confirmed before this run, and how many of them this run has read. */
  private readonly recordsBefore: number;
  private recordsRead = 0;

  constructor(private readonly options: ClassifierOptions) {
    this.mapper = compileMapping(options.mapping);
    options.state.resetSeen();
    this.recordsBefore = options.state.recordCount(options.sync);
  }

  /** Throws a SourceError when `row` lacks a column the key, cursor or mapping reads. */
  private checkColumns(row: Row): void {
    this.checkColumnNames(Object.keys(row));
  }

  /** The same check from the names of the columns a read returns (a pushdown read, before any row). */
  checkColumnNames(present: string[]): void {
    this.columnsChecked = true;
    const { primaryKey, cursorColumn, mapping, sync } = this.options;
    const missing = missingColumns(columnsRead({ primaryKey, cursor: cursorColumn, mapping }), present);
    if (missing.length === 0) return;
    const role = (column: string) => (column === primaryKey ? 'the primaryKey' : column === cursorColumn ? 'the cursor' : 'the mapping');
    // Sending on would strip that field from every record (or key every record as null): stop first.
    throw new SourceError(
      `sync "${sync}": the source returned no column ${missing.map((column) => `"${column}" (read by ${role(column)})`).join(', ')}; ` +
        `it returned ${present.join(', ')}. Was it dropped or renamed? Fix the query or the mapping; nothing was sent.`,
    );
  }

  /**
   * Classifies one batch of rows, in order. A row that hashes as the row of its confirmed payload
   * did is unchanged at once; only the others are mapped, validated, fingerprinted and compared.
   */
  classify({ rows, rowHashes, exactCursors }: HashedBatch): PlannedRecord[] {
    const { primaryKey, cursorColumn, state, sync, startedAt } = this.options;
    if (!this.columnsChecked && rows.length > 0) {
      this.checkColumns(rows[0]);
      this.columnsChecked = true;
    }
    const planned: PlannedRecord[] = [];
    rows.forEach((row, index) => {
      const rawKey = row[primaryKey];
      const cursor = cursorColumn ? (exactCursors?.[index] ?? cursorValue(row[cursorColumn])) : undefined;
      if (rawKey === null || rawKey === undefined || rawKey === '') {
        planned.push(this.nullKey(cursor));
        return;
      }
      planned.push({ key: recordKey(rawKey), class: 'unchanged', rowHash: rowHashes[index], cursor, changedAt: startedAt });
    });

    // The same key twice in one read: only the first row counts; the others are invalid.
    const firsts = new Map<string, number>();
    planned.forEach((record, index) => {
      if (record.key === NULL_KEY) return;
      if (firsts.has(record.key)) this.duplicate(record);
      else firsts.set(record.key, index);
    });
    const stored = state.rowHashes(sync, [...firsts.keys()]);
    const unchanged: PlannedRecord[] = [];
    const toCompare: number[] = [];
    for (const [key, index] of firsts) {
      if (stored.get(key) === planned[index].rowHash) unchanged.push(planned[index]);
      else toCompare.push(index);
    }
    const readBefore = new Set([
      ...state.noteReads(unchanged, true),
      ...state.noteReads(
        toCompare.map((index) => planned[index]),
        false,
      ),
    ]);
    for (const key of readBefore) this.duplicate(planned[firsts.get(key)!]);
    for (const key of stored.keys()) if (!readBefore.has(key)) this.recordsRead++;
    this.compare(toCompare.filter((index) => !readBefore.has(planned[index].key)).map((index) => this.mapRow(planned[index], rows[index])));
    return planned;
  }

  private nullKey(cursor?: unknown): PlannedRecord {
    return {
      key: NULL_KEY,
      class: 'invalid',
      reason: `primary key column "${this.options.primaryKey}" is null or missing in this row`,
      reasonGroup: `primary key column "${this.options.primaryKey}" is null or missing in this row`,
      cursor,
      changedAt: this.options.startedAt,
    };
  }

  /** Keys a pushdown read is fetching the rows of: their rows (every one with that key) settle them. */
  private readonly fetching = new Set<string>();

  /**
   * Pushdown pass 1: a key whose stored source hash equals the database's hash of its row now is
   * unchanged without its row being read. Returns those records (and invalid ones: a null or
   * repeated key), and for the other rows, their indexes: the caller fetches those rows and
   * classifies them with classifyFetched. A key already being fetched is left to its fetch, which
   * returns every row with that key (so a repeated key is found there, as a plain read finds it).
   */
  settleByHash(rawKeys: unknown[], sourceHashes: string[]): { settled: PlannedRecord[]; fetch: number[] } {
    const { state, sync, startedAt } = this.options;
    const settled: PlannedRecord[] = [];
    const firsts = new Map<string, number>();
    rawKeys.forEach((rawKey, index) => {
      if (rawKey === null || rawKey === undefined || rawKey === '') settled.push(this.nullKey());
      else {
        const key = recordKey(rawKey);
        if (this.fetching.has(key)) return;
        if (firsts.has(key)) {
          // Repeated within the batch: a second record, invalid, unless the key is fetched.
          const record: PlannedRecord = { key, class: 'invalid', changedAt: startedAt };
          this.duplicate(record);
          settled.push(record);
        } else firsts.set(key, index);
      }
    });
    const stored = state.sourceHashes(sync, [...firsts.keys()]);
    const unchanged: PlannedRecord[] = [];
    const fetch: number[] = [];
    for (const [key, index] of firsts) {
      if (stored.get(key) === sourceHashes[index]) unchanged.push({ key, class: 'unchanged', sourceHash: sourceHashes[index], changedAt: startedAt });
      else {
        this.fetching.add(key);
        fetch.push(index);
      }
    }
    const readBefore = new Set(state.noteReads(unchanged, true));
    for (const record of unchanged) {
      if (readBefore.has(record.key)) this.duplicate(record);
      else this.recordsRead++;
    }
    settled.push(...unchanged);
    return { settled, fetch };
  }

  /**
   * Pushdown pass 2: classifies fetched rows as classify does, and keeps each record's source hash:
   * with the payload sent (sync), or at once for a record found unchanged (sync only; plan writes nothing).
   */
  classifyFetched(batch: HashedBatch, sourceHashes: string[]): PlannedRecord[] {
    const planned = this.classify(batch);
    planned.forEach((record, index) => (record.sourceHash = sourceHashes[index]));
    if (this.options.refreshRowHashes) {
      this.options.state.setSourceHashes(
        this.options.sync,
        planned.filter((record) => record.class === 'unchanged').map((record) => ({ key: record.key, sourceHash: record.sourceHash! })),
      );
    }
    return planned;
  }

  private duplicate(record: PlannedRecord): void {
    record.class = 'invalid';
    record.reason = `duplicate primary key: the query returned "${record.key}" more than once; only the first row is used`;
    record.reasonGroup = 'duplicate primary key: the query returned a key more than once; only the first row is used';
  }

  /** Maps and validates the record's row: sets its payload and fingerprint, or makes it invalid. */
  private mapRow(record: PlannedRecord, row: Row): PlannedRecord {
    try {
      const mapped = this.mapper(row);
      const parsed = this.options.connector.payload.safeParse(mapped);
      if (parsed.success) {
        record.payload = parsed.data;
        record.fingerprint = fingerprint(parsed.data);
      } else {
        record.class = 'invalid';
        const { reason, group } = describeIssues(parsed.error, mapped);
        record.reason = reason;
        record.reasonGroup = group;
      }
    } catch (error) {
      if (!(error instanceof MappingError)) throw error;
      record.class = 'invalid';
      const { reason, group } = describeMappingError(error.field, error.message);
      record.reason = reason;
      record.reasonGroup = group;
    }
    return record;
  }

  /** Compares mapped records with what was last confirmed: unchanged, or added, changed or retry. */
  private compare(mapped: PlannedRecord[]): void {
    const { state, sync, refreshRowHashes } = this.options;
    const valid = mapped.filter((record) => record.class !== 'invalid');
    const { records, rejections } = state.lookup(
      sync,
      valid.map((record) => record.key),
    );
    const toSend = valid.filter((record) => records.get(record.key) !== record.fingerprint);
    const unchanged = valid.filter((record) => records.get(record.key) === record.fingerprint);
    // Field diffs against what was last sent: only records that changed need the stored payload.
    const payloads = state.confirmedPayloads(
      sync,
      toSend.filter((record) => records.has(record.key)).map((record) => record.key),
    );
    for (const record of toSend) {
      const previous = payloads.get(record.key);
      const rejection: StandingRejection | undefined = rejections.get(record.key);
      if (previous !== undefined) record.changes = diffPayloads(JSON.parse(previous), record.payload);
      if (rejection) {
        record.class = 'retry';
        record.reason = rejection.reason;
        if (rejection.fingerprint === record.fingerprint) record.changedAt = rejection.firstAt;
      } else {
        record.class = previous !== undefined ? 'changed' : 'added';
      }
    }
    // Invalid and unchanged records are settled: nothing of theirs waits for a confirmation.
    state.markSeenOk(mapped.filter((record) => record.class === 'invalid' || record.class === 'unchanged').map((record) => record.key));
    // Unchanged, though its row differs from the one last hashed: remember this row (sync only).
    if (refreshRowHashes)
      state.setRowHashes(
        sync,
        unchanged.map((record) => ({ key: record.key, rowHash: record.rowHash! })),
      );
  }

  /** After a full read: records confirmed earlier that the query no longer returns, a page at a time. */
  *removed(): Generator<PlannedRecord[]> {
    const { state, sync, startedAt } = this.options;
    // Every record confirmed before was read again: none was removed, no need to look for one.
    if (this.recordsRead === this.recordsBefore) return;
    let after = '';
    for (;;) {
      const page = state.unseenKeys(sync, after, 1000);
      if (page.length === 0) return;
      after = page[page.length - 1].key;
      yield page.map((row) => ({ key: row.key, class: 'removed', fingerprint: row.fingerprint, changedAt: startedAt }));
    }
  }
}
