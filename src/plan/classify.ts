// Classification: each source row becomes a planned record (added, changed, unchanged, invalid,
// retry), and at the end of a full read, each record sent before but not read is `removed`.
// Used by both `plan` and `sync`, so what plan shows is what sync does.
//
// A stage without side effects on the state: it reads what is known through a read-only view, and
// the state writes it finds worth making come out as data (`writes`) that `sync` applies and `plan`
// drops. The one thing it notes as it goes is the run's own scratch of keys read (RunReads), kept
// outside memory because a run may read tens of millions of keys; it finds keys repeated across
// batches and, after a full read, the records no longer returned.
import type { Connector } from '../../connectors/contract.js';
import type { MappingValue } from '../config/schema.js';
import { SourceError } from '../errors.js';
import { fingerprint } from '../fingerprint.js';
import { columnsRead, compileMapping, MappingError, missingColumns, type Mapper } from '../mapping/index.js';
import type { Row } from '../sources/contract.js';
import type { HashedBatch } from '../sources/read-in-worker.js';
import type { KnownRecords, RunReads } from '../state/contract.js';
import { diffPayloads, type FieldChange } from './diff.js';
import { describeIssues, describeMappingError } from './reasons.js';

export type RecordClass = 'added' | 'changed' | 'unchanged' | 'removed' | 'invalid' | 'retry';
export const RECORD_CLASSES: readonly RecordClass[] = ['added', 'changed', 'unchanged', 'removed', 'invalid', 'retry'];

interface RecordBase {
  key: string;
  /** Hash of the source row (with the mapping): equal to the stored one means unchanged. */
  rowHash?: string;
  /** Pushdown reads: the database's hash of the row's mapped columns, salted (see src/engine/pushdown.ts). */
  sourceHash?: string;
  /** The row's cursor column value (incremental syncs). */
  cursor?: unknown;
  /** When this version was first seen (for destinations that want the time of the change). */
  changedAt: string;
}

/** A record to send: new, changed, or refused before and due again. */
export interface SendableRecord extends RecordBase {
  class: 'added' | 'changed' | 'retry';
  payload: unknown;
  fingerprint: string;
  /** Field changes against the last confirmed payload (changed, retry of a changed record). */
  changes?: FieldChange[];
  /** A retry: the reason of the earlier rejection. */
  reason?: string;
}

export interface UnchangedRecord extends RecordBase {
  class: 'unchanged';
}

/** Confirmed before, no longer returned by the query (nothing is sent). */
export interface RemovedRecord extends RecordBase {
  class: 'removed';
  fingerprint: string;
}

/** Never sent: its row cannot make a valid payload, or its key is null or repeated. */
export interface InvalidRecord extends RecordBase {
  class: 'invalid';
  /** Why, with the offending value. */
  reason: string;
  /** The reason without its values: records that fail the same way share it. */
  reasonGroup: string;
}

export type PlannedRecord = SendableRecord | UnchangedRecord | RemovedRecord | InvalidRecord;

/** State writes classification found worth making: rows whose confirmed payload is unchanged, hashed anew. */
export interface StateWrites {
  rowHashes: { key: string; rowHash: string }[];
  sourceHashes: { key: string; sourceHash: string }[];
}

export interface Classified {
  records: PlannedRecord[];
  writes: StateWrites;
}

const NULL_KEY = '(null)';

/** A row's key as the state keeps it. */
function recordKey(rawKey: unknown): string {
  return rawKey instanceof Date ? rawKey.toISOString() : String(rawKey);
}

export function isSendable(record: PlannedRecord): record is SendableRecord {
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
  connector: Pick<Connector, 'payload'>;
  /** What is known of the sync's records: read only. */
  known: Pick<KnownRecords, 'recordCount' | 'lookup' | 'rowHashes' | 'sourceHashes' | 'confirmedPayloads'>;
  /** This run's scratch of keys read (fresh, one per run or plan). */
  reads: RunReads;
  startedAt: string;
}

/** A row mapped into a valid payload, before it is compared with what was confirmed. */
interface Candidate {
  /** The row's record as read (unchanged until compared), and its position in the batch. */
  read: UnchangedRecord;
  index: number;
  payload: unknown;
  fingerprint: string;
}

export class Classifier {
  private readonly mapper: Mapper;
  private columnsChecked = false;
  /** Records confirmed before this run, and how many of them this run has read. */
  private readonly recordsBefore: number;
  private recordsRead = 0;
  /** Keys a pushdown read is fetching the rows of: their rows (every one with that key) settle them. */
  private readonly fetching = new Set<string>();

  constructor(private readonly options: ClassifierOptions) {
    this.mapper = compileMapping(options.mapping);
    this.recordsBefore = options.known.recordCount(options.sync);
  }

  /** Throws a SourceError when the columns a read returns lack one the key, cursor or mapping reads. */
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
  classify({ rows, rowHashes, exactCursors }: HashedBatch): Classified {
    const { primaryKey, cursorColumn, known, reads, sync, startedAt } = this.options;
    if (!this.columnsChecked && rows.length > 0) this.checkColumnNames(Object.keys(rows[0]));
    // Each row starts as unchanged (one object a row: most rows of a steady read stay so).
    const records = new Array<PlannedRecord>(rows.length);
    const writes: StateWrites = { rowHashes: [], sourceHashes: [] };
    // The same key twice in one read: only the first row counts; the others are invalid.
    const firsts = new Map<string, number>();
    rows.forEach((row, index) => {
      const rawKey = row[primaryKey];
      const cursor = cursorColumn ? (exactCursors?.[index] ?? cursorValue(row[cursorColumn])) : undefined;
      if (rawKey === null || rawKey === undefined || rawKey === '') {
        records[index] = this.nullKey(cursor);
        return;
      }
      const record: UnchangedRecord = { key: recordKey(rawKey), class: 'unchanged', rowHash: rowHashes[index], cursor, changedAt: startedAt };
      if (firsts.has(record.key)) records[index] = this.duplicate(record);
      else {
        firsts.set(record.key, index);
        records[index] = record;
      }
    });
    const stored = known.rowHashes(sync, [...firsts.keys()]);
    const unchanged: UnchangedRecord[] = [];
    const toCompare: number[] = [];
    for (const [key, index] of firsts) {
      if (stored.get(key) === records[index].rowHash) unchanged.push(records[index] as UnchangedRecord);
      else toCompare.push(index);
    }
    const readBefore = new Set([
      ...reads.noteReads(unchanged, true),
      ...reads.noteReads(
        toCompare.map((index) => records[index]),
        false,
      ),
    ]);
    for (const key of stored.keys()) if (!readBefore.has(key)) this.recordsRead++;
    for (const key of readBefore) records[firsts.get(key)!] = this.duplicate(records[firsts.get(key)!]);
    const candidates: Candidate[] = [];
    const settled: string[] = [];
    for (const index of toCompare) {
      const read = records[index] as UnchangedRecord;
      if (readBefore.has(read.key)) continue;
      const mapped = this.mapRow(read, index, rows[index]);
      if ('fingerprint' in mapped) candidates.push(mapped);
      else {
        records[index] = mapped;
        settled.push(read.key);
      }
    }
    this.compare(candidates, writes).forEach((record, at) => {
      records[candidates[at].index] = record;
      if (record.class === 'unchanged') settled.push(record.key);
    });
    // Invalid and unchanged records are settled: nothing of theirs waits for a confirmation.
    reads.markSettled(settled);
    return { records, writes };
  }

  private nullKey(cursor?: unknown): InvalidRecord {
    const reason = `primary key column "${this.options.primaryKey}" is null or missing in this row`;
    return { key: NULL_KEY, class: 'invalid', reason, reasonGroup: reason, cursor, changedAt: this.options.startedAt };
  }

  private duplicate(record: RecordBase): InvalidRecord {
    return invalid(
      record,
      `duplicate primary key: the query returned "${record.key}" more than once; only the first row is used`,
      'duplicate primary key: the query returned a key more than once; only the first row is used',
    );
  }

  /**
   * Pushdown pass 1: a key whose stored source hash equals the database's hash of its row now is
   * unchanged without its row being read. Returns those records (and invalid ones: a null or
   * repeated key), and for the other rows, their indexes: the caller fetches those rows and
   * classifies them with classifyFetched. A key already being fetched is left to its fetch, which
   * returns every row with that key (so a repeated key is found there, as a plain read finds it).
   */
  settleByHash(rawKeys: unknown[], sourceHashes: string[]): { settled: PlannedRecord[]; fetch: number[] } {
    const { known, reads, sync, startedAt } = this.options;
    const settled: PlannedRecord[] = [];
    const firsts = new Map<string, number>();
    rawKeys.forEach((rawKey, index) => {
      if (rawKey === null || rawKey === undefined || rawKey === '') settled.push(this.nullKey());
      else {
        const key = recordKey(rawKey);
        if (this.fetching.has(key)) return;
        // Repeated within the batch: a second record, invalid, unless the key is fetched.
        if (firsts.has(key)) settled.push(this.duplicate({ key, changedAt: startedAt }));
        else firsts.set(key, index);
      }
    });
    const stored = known.sourceHashes(sync, [...firsts.keys()]);
    const unchanged: UnchangedRecord[] = [];
    const fetch: number[] = [];
    for (const [key, index] of firsts) {
      if (stored.get(key) === sourceHashes[index]) unchanged.push({ key, class: 'unchanged', sourceHash: sourceHashes[index], changedAt: startedAt });
      else {
        this.fetching.add(key);
        fetch.push(index);
      }
    }
    const readBefore = new Set(reads.noteReads(unchanged, true));
    for (const record of unchanged) {
      if (readBefore.has(record.key)) settled.push(this.duplicate(record));
      else {
        this.recordsRead++;
        settled.push(record);
      }
    }
    return { settled, fetch };
  }

  /**
   * Pushdown pass 2: classifies fetched rows as classify does, each record keeping its source hash:
   * with the payload sent, or (a `writes` entry) at once for a record found unchanged.
   */
  classifyFetched(batch: HashedBatch, sourceHashes: string[]): Classified {
    const classified = this.classify(batch);
    classified.records.forEach((record, index) => {
      record.sourceHash = sourceHashes[index];
      if (record.class === 'unchanged') classified.writes.sourceHashes.push({ key: record.key, sourceHash: sourceHashes[index] });
    });
    return classified;
  }

  /** Maps and validates the row at `index`: a candidate with its payload and fingerprint, or an invalid record. */
  private mapRow(read: UnchangedRecord, index: number, row: Row): Candidate | InvalidRecord {
    try {
      const mapped = this.mapper(row);
      const parsed = this.options.connector.payload.safeParse(mapped);
      if (parsed.success) return { read, index, payload: parsed.data, fingerprint: fingerprint(parsed.data) };
      const { reason, group } = describeIssues(parsed.error, mapped);
      return invalid(read, reason, group);
    } catch (error) {
      if (!(error instanceof MappingError)) throw error;
      const { reason, group } = describeMappingError(error.field, error.message);
      return invalid(read, reason, group);
    }
  }

  /**
   * Compares candidates with what was last confirmed, one record each: unchanged (its new row hash
   * goes to `writes`), or added, changed or retry, with the field changes against the payload last sent.
   */
  private compare(candidates: Candidate[], writes: StateWrites): (SendableRecord | UnchangedRecord)[] {
    const { known, sync } = this.options;
    const { records, rejections } = known.lookup(
      sync,
      candidates.map((candidate) => candidate.read.key),
    );
    // Field diffs against what was last sent: only records that changed need the stored payload.
    const payloads = known.confirmedPayloads(
      sync,
      candidates.filter(({ read, fingerprint }) => records.has(read.key) && records.get(read.key) !== fingerprint).map(({ read }) => read.key),
    );
    return candidates.map(({ read, payload, fingerprint }) => {
      if (records.get(read.key) === fingerprint) {
        // Unchanged, though its row differs from the one last hashed: remember this row.
        if (read.rowHash !== undefined) writes.rowHashes.push({ key: read.key, rowHash: read.rowHash });
        return read;
      }
      const previous = payloads.get(read.key);
      // A literal, not a spread: this runs for every row of a first plan.
      const record: SendableRecord = {
        key: read.key,
        class: previous === undefined ? 'added' : 'changed',
        payload,
        fingerprint,
        rowHash: read.rowHash,
        sourceHash: read.sourceHash,
        cursor: read.cursor,
        changedAt: read.changedAt,
      };
      if (previous !== undefined) record.changes = diffPayloads(JSON.parse(previous), payload);
      const rejection = rejections.get(read.key);
      if (rejection) {
        record.class = 'retry';
        record.reason = rejection.reason;
        // The same version refused before: its change dates from when it was first seen.
        if (rejection.fingerprint === fingerprint) record.changedAt = rejection.firstAt;
      }
      return record;
    });
  }

  /** After a full read: records confirmed earlier that the query no longer returns, a page at a time. */
  *removed(): Generator<RemovedRecord[]> {
    const { reads, sync, startedAt } = this.options;
    // Every record confirmed before was read again: none was removed, no need to look for one.
    if (this.recordsRead === this.recordsBefore) return;
    let after = '';
    for (;;) {
      const page = reads.unseenKeys(sync, after, 1000);
      if (page.length === 0) return;
      after = page[page.length - 1].key;
      yield page.map((row) => ({ key: row.key, class: 'removed', fingerprint: row.fingerprint, changedAt: startedAt }));
    }
  }
}

/** An invalid record of a row read (its key, hashes, cursor and time kept). */
function invalid({ key, rowHash, sourceHash, cursor, changedAt }: RecordBase, reason: string, reasonGroup: string): InvalidRecord {
  return { key, class: 'invalid', reason, reasonGroup, rowHash, sourceHash, cursor, changedAt };
}
